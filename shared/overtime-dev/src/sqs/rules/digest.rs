//! SQS's MD5 digests: of a body, and of message attributes as SQS serializes them.

use crate::sqs::model::{AttributeValue, Attributes};
use base64::Engine as _;
use md5::{Digest as _, Md5};

/// The hex MD5 of bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Lower-case hex, without a formatter call per byte (it showed in profiles: every send and
/// receive digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// SQS's MD5 of message attributes: names in order, each as length-prefixed name, data type,
/// a transport byte (1 string, 2 binary) and the length-prefixed value.
pub fn md5_of_attributes(attrs: &Attributes) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, value) in attrs {
        put(&mut buf, name.as_bytes());
        put(&mut buf, value.data_type.as_bytes());
        if let Some(s) = &value.string_value {
            buf.push(1);
            put(&mut buf, s.as_bytes());
        } else if let Some(raw) = binary(value) {
            buf.push(2);
            put(&mut buf, &raw);
        }
    }
    Some(md5_hex(&buf))
}

pub(super) fn binary(value: &AttributeValue) -> Option<Vec<u8>> {
    let b = value.binary_value.as_ref()?;
    base64::engine::general_purpose::STANDARD.decode(b).ok()
}

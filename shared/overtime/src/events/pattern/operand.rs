//! The operands with a syntax of their own inside a JSON string: `wildcard` and `cidr`.

use std::net::IpAddr;

use super::rule::{Cidr, Wildcard};

/// Splits a wildcard operand at its unescaped `*`s.
pub(super) fn wildcard(text: &str) -> Result<Wildcard, String> {
    let mut parts = vec![String::new()];
    let mut after_star = false;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '*' if after_star => {
                return Err(format!(
                    "Consecutive wildcard characters at position {at} of \"{text}\" are not allowed; one * already matches any run."
                ));
            }
            '*' => {
                parts.push(String::new());
                after_star = true;
                continue;
            }
            '\\' => match chars.next() {
                Some((_, escaped @ ('*' | '\\'))) => push(&mut parts, escaped),
                _ => {
                    return Err(format!(
                        "Invalid escape character at position {at} of \"{text}\"; only \\* and \\\\ are escapes."
                    ));
                }
            },
            c => push(&mut parts, c),
        }
        after_star = false;
    }
    Ok(Wildcard { parts })
}

fn push(parts: &mut [String], c: char) {
    if let Some(last) = parts.last_mut() {
        last.push(c);
    }
}

pub(super) fn cidr(text: &str) -> Result<Cidr, String> {
    let Some((ip, bits)) = text.split_once('/') else {
        return Err(format!(
            "Malformed CIDR \"{text}\", one '/' required, as in \"10.0.0.0/24\"."
        ));
    };
    let bits: u32 = match bits.parse() {
        Ok(n) if bits.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(format!(
                "Malformed CIDR \"{text}\": the mask bits must be a non-negative integer."
            ));
        }
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Ok(Cidr::V4 {
                network: u32::from(ip) & mask,
                mask,
            })
        }
        Ok(IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Ok(Cidr::V6 {
                network: u128::from(ip) & mask,
                mask,
            })
        }
        Ok(IpAddr::V4(_)) => Err(format!("IPv4 mask bits must be at most 32 in \"{text}\".")),
        Ok(IpAddr::V6(_)) => Err(format!("IPv6 mask bits must be at most 128 in \"{text}\".")),
        Err(_) => Err(format!("Invalid IP address \"{ip}\" in CIDR \"{text}\".")),
    }
}

/// Case-folds text for the `equals-ignore-case` forms (Unicode lowercasing).
pub(super) fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

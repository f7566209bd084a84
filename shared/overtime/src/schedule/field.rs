//! One cron field: its grammar (`*`, `?`, values, names, ranges, steps, `L`, `W`, `#`), the
//! rules of each dialect, and the set of values it matches.

use std::ops::Range;

use super::{ErrorKind, ScheduleError};

/// A set of field values: up to 256 consecutive integers from `base` (years 1970-2199 fit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bits {
    base: u16,
    words: [u64; 4],
}

impl Bits {
    pub(crate) fn from_base(base: u16) -> Self {
        Bits {
            base,
            words: [0; 4],
        }
    }

    pub(crate) fn set(&mut self, v: u16) {
        if let Some(i) = v.checked_sub(self.base).filter(|i| *i < 256) {
            self.words[usize::from(i / 64)] |= 1 << (i % 64);
        }
    }

    pub(crate) fn has(&self, v: u16) -> bool {
        v.checked_sub(self.base)
            .filter(|i| *i < 256)
            .is_some_and(|i| self.words[usize::from(i / 64)] & (1 << (i % 64)) != 0)
    }

    pub(crate) fn count(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (self.base..self.base.saturating_add(256)).filter(|v| self.has(*v))
    }
}

/// What a field may contain beyond values, ranges, steps and `*`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    /// The field's name as users know it ("minutes", "day-of-week").
    pub(crate) name: &'static str,
    pub(crate) min: u16,
    pub(crate) max: u16,
    /// Names accepted for values, the first naming `min` (EventBridge months and weekdays).
    pub(crate) names: &'static [&'static str],
    /// `?` allowed (EventBridge day-of-month and day-of-week).
    pub(crate) question: bool,
    /// `L` and `NW` allowed (EventBridge day-of-month).
    pub(crate) last_and_weekday: bool,
    /// `L`, `NL` and `N#K` allowed (EventBridge day-of-week).
    pub(crate) nth: bool,
    /// Ranges may wrap past the end of the field (`20-2` hours, `FRI-MON`), as on EventBridge.
    pub(crate) wrap: bool,
    /// `/` steps allowed (all fields but EventBridge's day-of-week).
    pub(crate) steps: bool,
}

impl FieldSpec {
    /// A field of plain values, ranges and steps only.
    pub(crate) const fn plain(name: &'static str, min: u16, max: u16, wrap: bool) -> FieldSpec {
        FieldSpec {
            name,
            min,
            max,
            names: &[],
            question: false,
            last_and_weekday: false,
            nth: false,
            wrap,
            steps: true,
        }
    }
}

/// A parsed field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Field {
    /// Plain values matched, as field values (not offsets).
    pub(crate) values: Bits,
    /// The field was `*` (or `*/1`), or `?`: it does not restrict.
    pub(crate) star: bool,
    /// The field was `?`.
    pub(crate) question: bool,
    /// Day-of-month `L`: the last day of the month.
    pub(crate) last_day: bool,
    /// Day-of-month `NW`: the weekday nearest day N.
    pub(crate) nearest_weekday: Bits,
    /// Day-of-week `N#K`: the K-th weekday N of the month.
    pub(crate) nth: Vec<(u16, u16)>,
    /// Day-of-week `NL`: the last weekday N of the month.
    pub(crate) last_weekday: Bits,
}

impl Field {
    /// Whether the field matches nothing but plain values (no `L`, `W`, `#`).
    pub(crate) fn is_plain(&self) -> bool {
        !self.last_day
            && self.nearest_weekday.count() == 0
            && self.nth.is_empty()
            && self.last_weekday.count() == 0
    }

    /// Whether the field restricts: anything other than `*` or `?`.
    pub(crate) fn restricts(&self) -> bool {
        !self.star
    }
}

/// Parses one field that starts at byte `offset` of the whole expression.
pub(crate) fn parse(text: &str, offset: usize, spec: &FieldSpec) -> Result<Field, ScheduleError> {
    let whole = offset..offset + text.len();
    if text == "?" {
        if !spec.question {
            return Err(ScheduleError::new(
                ErrorKind::Syntax,
                whole,
                format!("`?` is not allowed in the {} field; use `*`", spec.name),
            ));
        }
        return Ok(Field {
            star: true,
            question: true,
            ..Field::default()
        });
    }
    let mut field = Field {
        values: Bits::from_base(spec.min),
        nearest_weekday: Bits::from_base(spec.min),
        last_weekday: Bits::from_base(spec.min),
        ..Field::default()
    };
    let mut start = offset;
    for item in text.split(',') {
        let span = start..start + item.len();
        start += item.len() + 1;
        if item.is_empty() {
            return Err(ScheduleError::new(
                ErrorKind::Syntax,
                span,
                format!(
                    "empty list item in the {} field; remove the extra `,`",
                    spec.name
                ),
            ));
        }
        item_into(item, span, spec, &mut field)?;
    }
    if !field.nth.is_empty() && text.contains(',') {
        return Err(ScheduleError::new(
            ErrorKind::Syntax,
            whole,
            format!(
                "with `#` the {} field takes only that one item (`3#1,6#3` is not valid); use one schedule per item",
                spec.name
            ),
        ));
    }
    if text.contains(',') && field.star {
        field.star = false;
    }
    Ok(field)
}

fn item_into(
    item: &str,
    span: Range<usize>,
    spec: &FieldSpec,
    field: &mut Field,
) -> Result<(), ScheduleError> {
    let err = |kind, message: String| Err(ScheduleError::new(kind, span.clone(), message));
    if item == "?" {
        return err(
            ErrorKind::Syntax,
            format!("`?` must stand alone in the {} field", spec.name),
        );
    }
    if item.eq_ignore_ascii_case("L") && (spec.last_and_weekday || spec.nth) {
        if spec.nth {
            // EventBridge: `L` in day-of-week is the last day of the week, Saturday (7).
            field.values.set(spec.max);
        } else {
            field.last_day = true;
        }
        return Ok(());
    }
    if spec.last_and_weekday && (item.ends_with('W') || item.ends_with('w')) {
        let day = &item[..item.len() - 1];
        if day.eq_ignore_ascii_case("L") {
            return err(
                ErrorKind::Unsupported,
                format!(
                    "`LW` is not supported in the {} field; use `L` for the last day",
                    spec.name
                ),
            );
        }
        let day = value(day, span.start, spec)?;
        field.nearest_weekday.set(day);
        return Ok(());
    }
    if spec.nth {
        if let Some((day, nth)) = item.split_once('#') {
            let day = value(day, span.start, spec)?;
            let n = nth.parse::<u16>().ok().filter(|n| (1..=5).contains(n));
            let Some(n) = n else {
                return err(
                    ErrorKind::OutOfRange,
                    format!(
                        "`#{nth}` in the {} field must be #1 to #5 (the first to fifth such weekday of the month)",
                        spec.name
                    ),
                );
            };
            field.nth.push((day, n));
            return Ok(());
        }
        if item.len() > 1 && (item.ends_with('L') || item.ends_with('l')) {
            let day = value(&item[..item.len() - 1], span.start, spec)?;
            field.last_weekday.set(day);
            return Ok(());
        }
    }
    if item.contains(['L', 'l', 'W', 'w', '#']) && !item.chars().all(char::is_alphabetic) {
        return err(
            ErrorKind::Unsupported,
            format!(
                "`{item}` is not supported in the {} field{}",
                spec.name,
                if spec.question {
                    ""
                } else {
                    ": this dialect has no `L`, `W` or `#`"
                }
            ),
        );
    }

    let (range, step) = match item.split_once('/') {
        Some(_) if !spec.steps => {
            return err(
                ErrorKind::Unsupported,
                format!(
                    "the {} field takes no `/` step here; list the values instead (`1,3,5`)",
                    spec.name
                ),
            );
        }
        Some((range, step)) => {
            let parsed = step.parse::<u16>().ok().filter(|s| *s >= 1);
            let Some(step) = parsed else {
                return err(
                    ErrorKind::Syntax,
                    format!(
                        "step `/{step}` in the {} field must be a whole number of at least 1",
                        spec.name
                    ),
                );
            };
            (range, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = if range == "*" {
        if step.is_none_or(|s| s == 1) {
            field.star = true;
        }
        (spec.min, spec.max)
    } else if let Some((a, b)) = range.split_once('-') {
        let lo = value(a, span.start, spec)?;
        let hi = value(b, span.start + a.len() + 1, spec)?;
        if lo > hi && spec.wrap {
            // Wraps past the end of the field: `20-2` is 20..=23 then 0..=2.
            let step = u32::from(step.unwrap_or(1));
            let len = u32::from(spec.max - spec.min) + 1;
            if step > len {
                return err(
                    ErrorKind::OutOfRange,
                    format!(
                        "step `/{step}` in the {} field is larger than the field's range {}-{}",
                        spec.name, spec.min, spec.max
                    ),
                );
            }
            let mut pos = u32::from(lo - spec.min);
            let end = u32::from(hi - spec.min) + len;
            while pos <= end {
                let v = u32::from(spec.min) + pos % len;
                field.values.set(u16::try_from(v).unwrap_or(spec.max));
                pos += step;
            }
            return Ok(());
        }
        if lo > hi {
            return err(
                ErrorKind::OutOfRange,
                format!(
                    "range `{range}` in the {} field runs backwards; write it as two items, e.g. `{a}-{},{}-{b}`",
                    spec.name, spec.max, spec.min
                ),
            );
        }
        (lo, hi)
    } else {
        let v = value(range, span.start, spec)?;
        // `N/S` runs from N to the end of the field.
        (v, if step.is_some() { spec.max } else { v })
    };
    let step = step.unwrap_or(1);
    if step > spec.max - spec.min + 1 {
        return err(
            ErrorKind::OutOfRange,
            format!(
                "step `/{step}` in the {} field is larger than the field's range {}-{}",
                spec.name, spec.min, spec.max
            ),
        );
    }
    let mut v = lo;
    while v <= hi {
        field.values.set(v);
        v += step;
    }
    Ok(())
}

/// One value: a number in the field's range, or one of its names.
fn value(text: &str, at: usize, spec: &FieldSpec) -> Result<u16, ScheduleError> {
    let span = at..at + text.len().max(1);
    if text.is_empty() {
        return Err(ScheduleError::new(
            ErrorKind::Syntax,
            span,
            format!("missing value in the {} field", spec.name),
        ));
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
            _ => Err(ScheduleError::new(
                ErrorKind::OutOfRange,
                span,
                format!(
                    "{text} is out of range for the {} field: use {}-{}",
                    spec.name, spec.min, spec.max
                ),
            )),
        };
    }
    if let Some(i) = spec
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(spec.min + u16::try_from(i).unwrap_or(0));
    }
    let message = if spec.names.is_empty() {
        if text.chars().all(char::is_alphabetic) && text.len() == 3 {
            format!(
                "names like `{text}` are not accepted in the {} field; use numbers {}-{}",
                spec.name, spec.min, spec.max
            )
        } else {
            format!(
                "`{text}` is not a value of the {} field: use {}-{}",
                spec.name, spec.min, spec.max
            )
        }
    } else {
        format!(
            "`{text}` is not a value of the {} field: use {}-{} or {}-{}",
            spec.name,
            spec.min,
            spec.max,
            spec.names[0],
            spec.names[spec.names.len() - 1]
        )
    };
    Err(ScheduleError::new(ErrorKind::Name, span, message))
}

/// Writes a set of values as a compact list of values and ranges (`1-5,7`).
pub(crate) fn compress(values: impl IntoIterator<Item = u16>) -> String {
    let mut out = String::new();
    let mut run: Option<(u16, u16)> = None;
    let flush = |out: &mut String, (a, b): (u16, u16)| {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out.push_str(&a.to_string());
        } else {
            out.push_str(&format!("{a}-{b}"));
        }
    };
    for v in values {
        run = match run {
            Some((a, b)) if v == b + 1 => Some((a, v)),
            Some(r) => {
                flush(&mut out, r);
                Some((v, v))
            }
            None => Some((v, v)),
        };
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTES: FieldSpec = FieldSpec {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
        question: false,
        last_and_weekday: false,
        nth: false,
        wrap: false,
        steps: true,
    };

    #[test]
    fn steps_ranges_and_lists() {
        let f = parse("0-10/5,30,45-46", 0, &MINUTES).expect("valid");
        assert_eq!(compress(f.values.iter()), "0,5,10,30,45-46");
        assert!(!f.star);
        let f = parse("*/20", 0, &MINUTES).expect("valid");
        assert_eq!(compress(f.values.iter()), "0,20,40");
        assert!(!f.star);
        assert!(parse("*", 0, &MINUTES).expect("valid").star);
        assert_eq!(
            compress(parse("50/5", 0, &MINUTES).expect("valid").values.iter()),
            "50,55"
        );
    }

    #[test]
    fn spans_point_at_the_bad_item() {
        let e = parse("1,2,99", 10, &MINUTES).expect_err("99 is out of range");
        assert_eq!(e.span, 14..16);
        assert_eq!(e.kind, ErrorKind::OutOfRange);
        let e = parse("5-1", 0, &MINUTES).expect_err("backwards");
        assert!(e.message.contains("runs backwards"), "{e}");
        let e = parse("*/0", 0, &MINUTES).expect_err("zero step");
        assert!(e.message.contains("at least 1"), "{e}");
        let e = parse("1,,2", 0, &MINUTES).expect_err("empty item");
        assert_eq!(e.span, 2..2);
    }
}

//! Numbers as cty carries them: integers and floats natively, anything else as a decimal string,
//! so no precision is lost between Terraform and the provider.

use std::fmt;

/// A Terraform number.
#[derive(Debug, Clone)]
pub enum Number {
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A binary float; NaN is never stored.
    Float(f64),
    /// A decimal too large or too precise for the other two, kept as its canonical text.
    Big(String),
}

impl Number {
    /// Parses a decimal number (JSON number syntax, also accepting a leading `+`), choosing the narrowest
    /// representation that keeps every digit.
    pub fn parse(text: &str) -> Option<Number> {
        let canon = Canonical::parse(text)?;
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() && Canonical::parse(&format!("{f:e}")).as_ref() == Some(&canon) {
                return Some(Number::from_f64(f));
            }
        }
        Some(Number::Big(canon.to_string()))
    }

    /// A float, stored as an integer when it is one that fits.
    pub fn from_f64(f: f64) -> Number {
        if f.fract() == 0.0 && (-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f) {
            Number::Int(f as i64)
        } else {
            Number::Float(f)
        }
    }

    /// The value as an `i64`, when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) => match Number::from_f64(*f) {
                Number::Int(i) => Some(i),
                _ => None,
            },
            Number::Big(_) => None,
        }
    }

    /// The value as an `f64`, rounding big decimals.
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
            Number::Big(s) => s.parse().unwrap_or(f64::NAN),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Big(a), Number::Big(b)) => a == b,
            (Number::Big(_), _) | (_, Number::Big(_)) => false,
            (Number::Int(a), Number::Int(b)) => a == b,
            (a, b) => a.as_i64().is_some() && a.as_i64() == b.as_i64() || a.as_f64() == b.as_f64(),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Big(s) => f.write_str(s),
        }
    }
}

/// A decimal reduced to sign, significant digits and exponent, to compare two spellings of one number.
#[derive(Debug, PartialEq, Eq)]
struct Canonical {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Canonical {
    fn parse(text: &str) -> Option<Canonical> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || !all_digits(int)
            || !all_digits(frac)
            || (mantissa.contains('.') && frac.is_empty())
        {
            return None;
        }
        if exp.unsigned_abs() > 1_000_000 {
            return None;
        }
        let joined = format!("{int}{frac}");
        let trimmed = joined.trim_start_matches('0');
        let digits = trimmed.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Canonical {
                negative: false,
                digits: "0".into(),
                exponent: 0,
            });
        }
        // Exponent of the last significant digit.
        let exponent = exp - frac.len() as i64 + (trimmed.len() - digits.len()) as i64;
        Some(Canonical {
            negative,
            digits: digits.to_string(),
            exponent,
        })
    }
}

impl fmt::Display for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let n = self.digits.len() as i64;
        if self.exponent >= 0 && self.exponent + n <= 40 {
            write!(f, "{}{}", self.digits, "0".repeat(self.exponent as usize))
        } else if self.exponent < 0 && -self.exponent < n {
            let split = (n + self.exponent) as usize;
            write!(f, "{}.{}", &self.digits[..split], &self.digits[split..])
        } else if self.exponent < 0 && -self.exponent - n <= 40 {
            write!(
                f,
                "0.{}{}",
                "0".repeat((-self.exponent - n) as usize),
                self.digits
            )
        } else {
            write!(f, "{}e{}", self.digits, self.exponent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_picks_the_narrowest_exact_representation() {
        assert!(matches!(Number::parse("42"), Some(Number::Int(42))));
        assert!(matches!(Number::parse("-7"), Some(Number::Int(-7))));
        assert!(matches!(Number::parse("1.5"), Some(Number::Float(f)) if f == 1.5));
        assert!(matches!(Number::parse("0.1"), Some(Number::Float(f)) if f == 0.1));
        assert!(matches!(Number::parse("1e3"), Some(Number::Int(1000))));
    }

    #[test]
    fn big_numbers_keep_every_digit() {
        let n = Number::parse("123456789012345678901234567890").unwrap();
        assert_eq!(n.to_string(), "123456789012345678901234567890");
        let d = Number::parse("3.14159265358979323846264338327950288").unwrap();
        assert_eq!(d.to_string(), "3.14159265358979323846264338327950288");
        assert_eq!(
            Number::parse("-1.50000000000000000000001")
                .unwrap()
                .to_string(),
            "-1.50000000000000000000001"
        );
    }

    #[test]
    fn malformed_numbers_are_rejected() {
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "1e",
            "abc",
            "1.2.3",
            "0x10",
            "1e99999999",
        ] {
            assert!(Number::parse(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn int_and_integral_float_compare_equal() {
        assert_eq!(Number::Int(3), Number::Float(3.0));
        assert_ne!(Number::Int(3), Number::Float(3.5));
    }
}

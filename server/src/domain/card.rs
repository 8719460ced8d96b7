//! Payment card input: the number (Luhn-checked), the expiry and the CVC.

use std::{fmt, time::SystemTime};

/// A card number that passed the Luhn check: 12–19 digits, spaces and dashes removed.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

/// The card network, derived from the number's prefix; safe to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBrand {
    /// Visa (4…)
    Visa,
    /// Mastercard (51–55, 2221–2720)
    Mastercard,
    /// American Express (34, 37)
    Amex,
    /// Discover (6011, 65)
    Discover,
    /// Any other prefix.
    Unknown,
}

impl CardNumber {
    /// Parses a number as people type it (`4242 4242 4242 4242`); the error message never repeats it.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() {
            return Err("is required");
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must contain only digits");
        }
        if !(12..=19).contains(&digits.len()) {
            return Err("must have 12 to 19 digits");
        }
        if !luhn_valid(&digits) {
            return Err("is not a valid card number (checksum failed)");
        }
        Ok(Self(digits))
    }

    /// The digits, for the payment gateway only.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The last four digits: the only part of the number that may be shown or recorded.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The network, from the prefix.
    pub fn brand(&self) -> CardBrand {
        let prefix = |n: usize| self.0[..n].parse::<u32>().unwrap_or(0);
        match () {
            _ if self.0.starts_with('4') => CardBrand::Visa,
            _ if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) => {
                CardBrand::Mastercard
            }
            _ if matches!(prefix(2), 34 | 37) => CardBrand::Amex,
            _ if prefix(4) == 6011 || prefix(2) == 65 => CardBrand::Discover,
            _ => CardBrand::Unknown,
        }
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(…{})", self.last4())
    }
}

impl CardBrand {
    /// The lowercase name recorded on the payment span.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Discover => "discover",
            Self::Unknown => "unknown",
        }
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A calendar month, as cards count expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct YearMonth {
    /// The full year, e.g. 2027.
    pub year: i32,
    /// 1–12.
    pub month: u32,
}

impl YearMonth {
    /// The current month in UTC.
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let days = i64::try_from(secs / 86_400).unwrap_or_default();
        Self::from_days_since_epoch(days)
    }

    /// Converts days since 1970-01-01 to a year and month (Howard Hinnant's `civil_from_days`).
    fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
        }
    }
}

/// A card expiry `MM/YY`; the card is valid through the end of that month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry(YearMonth);

impl Expiry {
    /// Parses `MM/YY` and refuses a month that has already ended, as of `today`.
    pub fn parse(input: &str, today: YearMonth) -> Result<Self, &'static str> {
        let (mm, yy) = input.trim().split_once('/').ok_or("must be MM/YY")?;
        let all_digits = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(mm, 2) || !all_digits(yy, 2) {
            return Err("must be MM/YY");
        }
        let month: u32 = mm.parse().map_err(|_| "must be MM/YY")?;
        let year: i32 = yy.parse::<i32>().map_err(|_| "must be MM/YY")? + 2000;
        if !(1..=12).contains(&month) {
            return Err("month must be 01 to 12");
        }
        let expiry = YearMonth { year, month };
        if expiry < today {
            return Err("card has expired");
        }
        Ok(Self(expiry))
    }
}

/// The 3- or 4-digit card verification code.
#[derive(Clone, PartialEq, Eq)]
pub struct Cvc(String);

impl Cvc {
    /// Parses 3 or 4 digits.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let input = input.trim();
        if (3..=4).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(input.to_owned()))
        } else {
            Err("must be 3 or 4 digits")
        }
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_2026: YearMonth = YearMonth {
        year: 2026,
        month: 11,
    };

    #[test]
    fn test_cards_pass_luhn_and_typos_do_not() {
        for good in [
            "4242 4242 4242 4242",
            "4000-0000-0000-0002",
            "4000000000009995",
            "5555555555554444",
        ] {
            assert!(CardNumber::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "4242 4242 4242 4241",
            "",
            "4242abcd42424242",
            "42424",
            "4".repeat(20).as_str(),
        ] {
            assert!(CardNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn brand_and_last4_are_the_only_derived_parts() {
        let card = CardNumber::parse("4242 4242 4242 4242").expect("valid");
        assert_eq!(card.brand(), CardBrand::Visa);
        assert_eq!(card.last4(), "4242");
        assert_eq!(format!("{card:?}"), "CardNumber(…4242)");
        let mc = CardNumber::parse("5555 5555 5555 4444").expect("valid");
        assert_eq!(mc.brand(), CardBrand::Mastercard);
        let amex = CardNumber::parse("3782 822463 10005").expect("valid");
        assert_eq!(amex.brand(), CardBrand::Amex);
    }

    #[test]
    fn expiry_is_valid_through_the_end_of_its_month() {
        assert!(Expiry::parse("11/26", NOV_2026).is_ok());
        assert!(Expiry::parse("01/30", NOV_2026).is_ok());
        assert_eq!(Expiry::parse("10/26", NOV_2026), Err("card has expired"));
        assert_eq!(
            Expiry::parse("13/27", NOV_2026),
            Err("month must be 01 to 12")
        );
        for malformed in ["1/27", "01-27", "0127", "ab/cd", "01/2027"] {
            assert_eq!(
                Expiry::parse(malformed, NOV_2026),
                Err("must be MM/YY"),
                "{malformed}"
            );
        }
    }

    #[test]
    fn cvc_is_three_or_four_digits_and_never_printed() {
        assert!(Cvc::parse("123").is_ok());
        assert!(Cvc::parse("1234").is_ok());
        for bad in ["12", "12345", "12a", ""] {
            assert!(Cvc::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", Cvc::parse("987").expect("valid")),
            "Cvc(***)"
        );
    }

    #[test]
    fn civil_dates_convert_exactly() {
        assert_eq!(
            YearMonth::from_days_since_epoch(0),
            YearMonth {
                year: 1970,
                month: 1
            }
        );
        // 2024-02-29 is day 19782; 2026-11-24 is day 20781.
        assert_eq!(
            YearMonth::from_days_since_epoch(19_782),
            YearMonth {
                year: 2024,
                month: 2
            }
        );
        assert_eq!(
            YearMonth::from_days_since_epoch(20_781),
            YearMonth {
                year: 2026,
                month: 11
            }
        );
    }
}

//! The customer's email address: checked for plausibility, never logged.

use std::fmt;

/// A plausible email address (one `@`, a dotted domain, no spaces, at most 254 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address; real verification is a confirmation mail, so this only catches typos.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let input = input.trim();
        let Some((local, domain)) = input.split_once('@') else {
            return Err("must be an email address like name@example.com");
        };
        let labels_ok = domain.split('.').count() >= 2
            && domain
                .split('.')
                .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        let ok = input.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && labels_ok
            && !input.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err("must be an email address like name@example.com")
        }
    }

    /// The address, for storing with the order.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_addresses_pass_and_typos_do_not() {
        for good in ["ada@example.com", "a.b+tag@mail.example.co.uk"] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}

//! Card data that must never reach a span, an event or a log line, and the scan for it.

use checkout_api::test_cards;

/// What a run sent that is secret: card numbers, CVCs and emails.
#[derive(Debug, Clone)]
pub struct CardData {
    /// Card numbers as typed and as bare digits; found anywhere in a text.
    numbers: Vec<String>,
    /// Emails; found anywhere in a text.
    emails: Vec<String>,
    /// CVCs; found only as a whole token of letters and digits (a few digits occur inside hex ids
    /// by chance), and never as a group of a UUID (`90a43b46-4d62-4d53-9317-…`, whose groups are
    /// random hex).
    cvcs: Vec<String>,
}

impl CardData {
    /// The test cards with the `cvcs` and `emails` a run used.
    pub fn test_cards(cvcs: &[&str], emails: &[&str]) -> Self {
        Self {
            numbers: test_cards::ALL
                .iter()
                .flat_map(|card| [(*card).to_owned(), card.replace(' ', "")])
                .collect(),
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            cvcs: cvcs.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    /// The same, with more card numbers (e.g. mistyped ones a test sent).
    pub fn with_numbers(mut self, numbers: &[&str]) -> Self {
        for number in numbers {
            self.numbers.push((*number).to_owned());
            self.numbers.push(number.replace(' ', ""));
        }
        self
    }

    /// The first secret `text` contains, if any.
    pub fn found_in(&self, text: &str) -> Option<String> {
        let anywhere = self.numbers.iter().chain(&self.emails);
        if let Some(secret) = anywhere.into_iter().find(|s| text.contains(s.as_str())) {
            return Some(secret.clone());
        }
        text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .filter(|run| !is_uuid(run))
            .flat_map(|run| run.split('-'))
            .find(|token| self.cvcs.iter().any(|cvc| cvc == token))
            .map(str::to_owned)
    }
}

/// Whether `run` is a UUID in its text form: hex groups of 8, 4, 4, 4 and 12 digits.
fn is_uuid(run: &str) -> bool {
    let groups: Vec<&str> = run.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_emails_are_found_anywhere_and_a_cvc_only_as_a_token() {
        let data = CardData::test_cards(&["123"], &["ada@example.com"]);
        assert_eq!(
            data.found_in("card=4242424242424242").as_deref(),
            Some("4242424242424242")
        );
        assert!(data.found_in("to: ada@example.com.").is_some());
        assert_eq!(data.found_in("cvc 123 given").as_deref(), Some("123"));
        assert_eq!(data.found_in("trace 0a1234ff"), None, "inside a hex id");
        let data = CardData::test_cards(&["9317"], &[]);
        assert_eq!(
            data.found_in("replica=90a43b46-4d62-4d53-9317-735c9c83f08b"),
            None,
            "a group of a UUID"
        );
        assert_eq!(data.found_in("cvc=9317,").as_deref(), Some("9317"));
        assert_eq!(
            data.found_in("cvc-9317").as_deref(),
            Some("9317"),
            "beside a hyphen"
        );
        assert_eq!(data.found_in("payment.card.last4=4242"), None);
    }
}

//! The payment gateway: an in-process simulation with test cards, latency and a failure rate.
//!
//! | card ([`checkout_api::test_cards`]) | outcome                      |
//! |-------------------------------------|------------------------------|
//! | `4242 4242 4242 4242`               | approved                     |
//! | `4000 0000 0000 0002`               | declined                     |
//! | `4000 0000 0000 9995`               | declined: insufficient funds |
//! | `4000 0000 0000 0119`               | gateway error                |
//! | any other valid card                | approved                     |
//!
//! The charge runs in a `payment.charge` span that records the card brand and last four digits only.

use std::{borrow::Cow, time::Instant};

use checkout_api::{semconv, test_cards};
use opentelemetry::{KeyValue, trace::SpanKind};

use crate::{
    domain::CardNumber,
    faults::Faults,
    telemetry::{
        self, SpanFailure, Tracer,
        timing::{self, Part},
    },
};

/// The simulated gateway.
#[derive(Clone)]
pub struct PaymentGateway {
    faults: Faults,
    tracer: Tracer,
}

/// A successful charge.
#[derive(Debug, Clone)]
pub struct Charge {
    /// The gateway's reference for it.
    pub id: String,
}

/// Why a charge did not go through. The messages are for customers and never quote the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The issuer declined the card.
    #[error("the card was declined")]
    Declined,
    /// The issuer declined for lack of funds.
    #[error("the card was declined for insufficient funds")]
    InsufficientFunds,
    /// The gateway did not answer properly; nothing was charged.
    #[error("the payment gateway failed")]
    Gateway,
}

/// A declined or failed charge: `error.type`, an Error status saying what happened, and an
/// `exception` event.
impl SpanFailure for PaymentError {
    fn error_type(&self) -> &'static str {
        (*self).error_type()
    }

    fn description(&self) -> Cow<'static, str> {
        self.to_string().into()
    }

    fn exception_message(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl PaymentError {
    /// The `error.type` recorded on the span.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::Declined => "card_declined",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Gateway => "gateway_error",
        }
    }
}

impl PaymentGateway {
    /// A gateway whose latency and failure rate are those of `faults` at each charge.
    pub fn new(faults: Faults, tracer: Tracer) -> Self {
        Self { faults, tracer }
    }

    /// Charges `amount_cents` to `card`.
    pub async fn charge(
        &self,
        card: &CardNumber,
        amount_cents: i64,
    ) -> Result<Charge, PaymentError> {
        let charge = async {
            let started = Instant::now();
            let latency = self.faults.payment_latency();
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let outcome = self.decide(card);
            timing::record(Part::Payment, started.elapsed());
            outcome
        };
        telemetry::in_span(
            &self.tracer,
            semconv::SPAN_PAYMENT_CHARGE,
            SpanKind::Internal,
            vec![
                KeyValue::new(semconv::PAYMENT_CARD_BRAND, card.brand().as_str()),
                KeyValue::new(semconv::PAYMENT_CARD_LAST4, card.last4().to_owned()),
                KeyValue::new(semconv::PAYMENT_AMOUNT_CENTS, amount_cents),
                KeyValue::new(semconv::PAYMENT_CURRENCY, "USD"),
            ],
            charge,
            |span, outcome| match outcome {
                Ok(charge) => {
                    span.set_attribute(KeyValue::new(semconv::PAYMENT_OUTCOME, "approved"));
                    span.set_attribute(KeyValue::new(
                        semconv::PAYMENT_CHARGE_ID,
                        charge.id.clone(),
                    ));
                }
                Err(error) => {
                    span.set_attribute(KeyValue::new(semconv::PAYMENT_OUTCOME, error.error_type()));
                }
            },
        )
        .await
    }

    fn decide(&self, card: &CardNumber) -> Result<Charge, PaymentError> {
        // The test cards are written as typed; the card's digits are without the spaces.
        let is = |test_card: &str| {
            test_card
                .bytes()
                .filter(u8::is_ascii_digit)
                .eq(card.digits().bytes())
        };
        if is(test_cards::DECLINED) {
            Err(PaymentError::Declined)
        } else if is(test_cards::INSUFFICIENT_FUNDS) {
            Err(PaymentError::InsufficientFunds)
        } else if is(test_cards::GATEWAY_ERROR)
            || rand::random::<f64>() < self.faults.payment_failure_rate()
        {
            Err(PaymentError::Gateway)
        } else {
            Ok(Charge {
                id: format!("ch_{}", uuid::Uuid::new_v4().simple()),
            })
        }
    }
}

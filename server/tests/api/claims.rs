//! Claims between replicas, through the database layer itself: two `Db`s on one database are two
//! replicas (each has its own replica id).

use std::time::Duration;

use checkout_server::db::Claim;

use crate::helpers::*;

#[tokio::test]
async fn an_idempotency_key_is_one_replicas_until_answered_then_replayed_by_all() {
    let app = spawn_app().await;
    let (a, b) = (app.server_db().await, app.server_db().await);
    assert_ne!(a.replica(), b.replica());

    assert!(matches!(
        a.claim_key("k", "fp").await,
        Ok(Claim::Claimed {
            earlier_order: None
        })
    ));
    assert!(
        matches!(b.claim_key("k", "fp").await, Ok(Claim::InProgress { fingerprint }) if fingerprint == "fp"),
        "another replica must wait for the holder"
    );
    assert!(matches!(
        a.claim_key("k", "fp").await,
        Ok(Claim::InProgress { .. })
    ));

    b.answer_key("k", 201, "{}").await.expect("no error");
    assert!(
        matches!(b.claim_key("k", "fp").await, Ok(Claim::InProgress { .. })),
        "only the holder can answer"
    );
    a.answer_key("k", 201, r#"{"order_id":"o-1"}"#)
        .await
        .expect("answered");
    for db in [&a, &b] {
        match db.claim_key("k", "fp").await {
            Ok(Claim::Answered(stored)) => {
                assert_eq!(stored.status_code, 201);
                assert_eq!(stored.body, r#"{"order_id":"o-1"}"#);
                assert_eq!(stored.fingerprint, "fp");
            }
            other => panic!("expected the stored answer, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_released_key_is_free_and_an_expired_claim_is_taken_over() {
    let app = spawn_app().await;
    let short = app.replica_db(Duration::from_secs(1)).await;
    let other = app.server_db().await;

    assert!(matches!(
        short.claim_key("released", "fp").await,
        Ok(Claim::Claimed {
            earlier_order: None
        })
    ));
    short.release_key("released").await.expect("released");
    assert!(matches!(
        other.claim_key("released", "fp").await,
        Ok(Claim::Claimed {
            earlier_order: None
        })
    ));

    assert!(matches!(
        short.claim_key("expiring", "fp").await,
        Ok(Claim::Claimed {
            earlier_order: None
        })
    ));
    assert!(matches!(
        other.claim_key("expiring", "fp").await,
        Ok(Claim::InProgress { .. })
    ));
    // The holder stops renewing (it died): after its lease, the next request takes the key over.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        matches!(
            other.claim_key("expiring", "other-body").await,
            Ok(Claim::InProgress { .. })
        ),
        "a different request never takes a key over"
    );
    assert!(matches!(
        other.claim_key("expiring", "fp").await,
        Ok(Claim::Claimed {
            earlier_order: None
        })
    ));
    short
        .answer_key("expiring", 201, "{}")
        .await
        .expect("no error");
    assert!(
        matches!(
            short.claim_key("expiring", "fp").await,
            Ok(Claim::InProgress { .. })
        ),
        "the old holder's late answer is not stored"
    );
}

#[tokio::test]
async fn renewed_claims_outlive_their_lease_and_unrenewed_ones_are_recovered() {
    let app = spawn_app().await;
    let stock = app.stock().await;
    let short = app.replica_db(Duration::from_secs(1)).await;
    let items = [checkout_server::domain::LineItem {
        product_id: 1,
        quantity: 3,
        index: 0,
    }];
    for order in ["renewed", "abandoned"] {
        short
            .reserve_order(order, &items, 100, "x@example.com", "", None)
            .await
            .expect("reserved");
    }
    let other = app.server_db().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The holder is alive and renews, as its upkeep task would.
        assert_eq!(short.renew_claims().await.expect("renewed"), 2);
        assert_eq!(other.recover_expired_orders().await.expect("swept"), 0);
    }
    short
        .settle_order("renewed", &items, OrderStatus::Paid, Some("ch_1"))
        .await
        .expect("settled")
        .then_some(())
        .expect("still this replica's");

    // Now the holder dies: nothing renews the abandoned order.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(other.recover_expired_orders().await.expect("swept"), 1);
    assert_eq!(
        other.recover_expired_orders().await.expect("swept"),
        0,
        "once"
    );
    assert!(
        !short
            .settle_order("abandoned", &items, OrderStatus::Paid, None)
            .await
            .expect("no error"),
        "a recovered order is no longer its old holder's to settle"
    );
    assert_eq!(app.orders_with_status(OrderStatus::Paid).await, 1);
    assert_eq!(app.orders_with_status(OrderStatus::Failed).await, 1);
    assert_eq!(
        app.stock().await[0].1,
        stock[0].1 - 3,
        "only the paid order's stock is gone"
    );
}

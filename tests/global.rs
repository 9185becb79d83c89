//! WeChat Pay Global refunds end to end against the simulator, direct and institution mode.

mod support;

use serde_json::json;
use support::{settled as poll, sim, sim_with};
use wxrefund::global::{Amount, FundsFrom, RefundRequest};
use wxrefund::{Client, ErrorKind, RefundQuery, RefundStatus};
use wxrefund_sim::{Fault, SimOptions, Verification};

fn client_for(config: serde_json::Value) -> Client {
    support::client_for(config, |_| {})
}

fn request(
    out_trade_no: &str,
    out_refund_no: &str,
    refund: i64,
    total: i64,
    currency: &str,
) -> RefundRequest {
    RefundRequest {
        out_trade_no: Some(out_trade_no.into()),
        out_refund_no: out_refund_no.into(),
        amount: Amount {
            refund,
            total,
            currency: currency.into(),
            from: None,
        },
        ..Default::default()
    }
}

#[test]
fn direct_apply_then_query_by_id_and_by_number() {
    let sim = sim();
    let client = client_for(sim.global_client_config());
    let created = client
        .create_refund(&request("G20261122000001", "GR|1*2@3", 1000, 10000, "USD"))
        .unwrap();
    assert_eq!(
        created.status,
        RefundStatus::Accepted,
        "the apply answer has no status"
    );
    let id = created
        .refund_id
        .clone()
        .expect("Global answers carry `id`");
    assert_eq!(created.field("id"), Some(id.as_str()));
    let json = created.to_json();
    assert_eq!(json["wxrefund"]["status"], "ACCEPTED");
    assert_eq!(json["wxrefund"]["refund_id"], id.as_str());
    assert_eq!(json["amount"]["payer_currency"], "CNY");
    assert_eq!(json["amount"]["exchange_rate"]["type"], "USERPAYMENT_RATE");

    let by_number = poll(&client, &RefundQuery::by_out_refund_no("GR|1*2@3"));
    let by_id = poll(&client, &RefundQuery::by_refund_id(&id));
    assert_eq!(by_number.status, RefundStatus::Success);
    assert_eq!(by_id.fields, by_number.fields);
    let json = by_id.to_json();
    for field in ["recv_account", "fund_source", "success_time"] {
        assert!(json.get(field).is_some(), "{field} kept: {json}");
    }
    let amount = &json["amount"];
    for field in [
        "payer_refund",
        "payer_currency",
        "settlement_refund",
        "settlement_currency",
        "exchange_rate",
    ] {
        assert!(amount.get(field).is_some(), "amount.{field} kept: {json}");
    }
    assert_eq!(amount["settlement_currency"], "HKD");
    assert_eq!(json["wxrefund"]["final"], true);
    assert_eq!(sim.global_refunds_for_order("G20261122000001").len(), 1);
}

#[test]
fn refundclose_normalizes_to_closed_and_abnormal_needs_action() {
    let sim = sim();
    let client = client_for(sim.global_client_config());
    client
        .create_refund(&request("G20261122000002", "GR-closed", 5000, 5000, "HKD"))
        .unwrap();
    client
        .create_refund(&request(
            "G20261122000003",
            "GR-abnormal",
            3000,
            3000,
            "JPY",
        ))
        .unwrap();
    let closed = poll(&client, &RefundQuery::by_out_refund_no("GR-closed"));
    assert_eq!(
        closed.field("status"),
        Some("REFUNDCLOSE"),
        "server field kept as sent"
    );
    assert_eq!(closed.status, RefundStatus::Closed);
    assert_eq!(closed.to_json()["wxrefund"]["status"], "CLOSED");
    let abnormal = poll(&client, &RefundQuery::by_out_refund_no("GR-abnormal"));
    assert_eq!(abnormal.to_json()["wxrefund"]["action_required"], true);
}

#[test]
fn institution_mode_sends_sp_and_sub_merchant() {
    let sim = sim();
    let client = client_for(sim.global_institution_client_config("1900000209"));
    let created = client
        .create_refund_json(
            &json!({
                "transaction_id": "4200000002202611220000000009",
                "out_refund_no": "GR-inst",
                "reason": "retour",
                "amount": {"refund": 600, "total": 20000, "currency": "EUR",
                           "from": [{"fund_source": "FUNDS_REFUNDABLE_BALANCE", "amount": 600}]}
            })
            .to_string(),
        )
        .unwrap();
    let id = created.refund_id.clone().unwrap();
    assert_eq!(
        poll(&client, &RefundQuery::by_refund_id(&id)).status,
        RefundStatus::Success
    );
    let refund = poll(&client, &RefundQuery::by_out_refund_no("GR-inst"));
    assert_eq!(refund.to_json()["amount"]["from"][0]["amount"], 600);

    // Another sub-merchant cannot see it.
    let other = RefundQuery {
        sub_mchid: Some("1900000299".into()),
        ..RefundQuery::by_out_refund_no("GR-inst")
    };
    assert_eq!(
        client.query_refund(&other).unwrap_err().kind,
        ErrorKind::NotFound
    );
    // A direct client must not send a sub-merchant.
    let direct = client_for(sim.global_client_config());
    assert_eq!(
        direct.query_refund(&other).unwrap_err().field.as_deref(),
        Some("sub_mchid")
    );
}

#[test]
fn both_verification_modes() {
    for verification in [
        Verification::PublicKey,
        Verification::PlatformCertificate,
        Verification::Both,
    ] {
        let sim = sim_with(SimOptions {
            verification,
            ..SimOptions::default()
        });
        let client = client_for(sim.global_client_config());
        let result = client.create_refund(&request("G20261122000001", "GR-mode", 1, 10000, "USD"));
        assert!(result.is_ok(), "{verification:?}: {result:?}");
    }
}

#[test]
fn errors_of_section_5_3() {
    let sim = sim();
    let client = client_for(sim.global_client_config());
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("GR-none"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::NotFound, Some("REFUND_NOT_EXIST"))
    );
    let err = client
        .query_refund(&RefundQuery::by_refund_id("50300000000000000000000000000"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = client
        .create_refund(&request("G20269999999999", "GR-x", 1, 10, "USD"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::NotFound, Some("ORDER_NOT_EXIST"))
    );
    let err = client
        .create_refund(&request("G20261122000001", "GR-cur", 1, 10000, "EUR"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Api, Some("PARAM_ERROR"))
    );
    let err = client
        .create_refund(&request("G20251101000001", "GR-old", 1, 1000, "USD"))
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("INVALID_REQUEST"));

    sim.inject(Fault::SystemError, 1);
    client
        .create_refund(&request("G20261122000001", "GR-retry", 10, 10000, "USD"))
        .unwrap();
    sim.inject(Fault::DropAfterCommit, 1);
    client
        .create_refund(&request("G20261122000001", "GR-drop", 10, 10000, "USD"))
        .unwrap();
    assert_eq!(
        sim.global_refunds_for_order("G20261122000001").len(),
        2,
        "no duplicates"
    );
    sim.inject(Fault::ProbeSignature, 1);
    let err = client
        .query_refund(&RefundQuery::by_out_refund_no("GR-drop"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.reason),
        (ErrorKind::VerificationFailed, "probe_signature")
    );
}

#[test]
fn validation_before_sending() {
    let sim = sim();
    let client = client_for(sim.global_client_config());
    let before = sim.request_count();
    let mut bad = request("G20261122000001", "GR-v", 100, 10000, "usd");
    assert_eq!(
        client.create_refund(&bad).unwrap_err().field.as_deref(),
        Some("amount.currency")
    );
    bad.amount.currency = "USD".into();
    bad.amount.from = Some(vec![
        FundsFrom {
            fund_source: "FUNDS_REFUNDABLE_BALANCE".into(),
            amount: 50,
        },
        FundsFrom {
            fund_source: "FUNDS_REFUNDABLE_BALANCE".into(),
            amount: 50,
        },
    ]);
    assert_eq!(
        client.create_refund(&bad).unwrap_err().field.as_deref(),
        Some("amount.from[1].fund_source")
    );
    bad.amount.from = None;
    bad.transaction_id = Some("4200000002202611220000000001".into());
    assert_eq!(
        client.create_refund(&bad).unwrap_err().field.as_deref(),
        Some("transaction_id")
    );
    let err = client
        .query_refund_json(r#"{"out_refund_no":"a","refund_id":"1"}"#)
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("refund_id"));
    // A mainland request on a Global client is refused by family.
    let domestic = wxrefund::domestic::RefundRequest {
        out_trade_no: Some("T20261122000001".into()),
        out_refund_no: "R".into(),
        ..Default::default()
    };
    assert_eq!(
        client.create_refund(&domestic).unwrap_err().reason,
        "wrong_family"
    );
    assert_eq!(sim.request_count(), before);
}

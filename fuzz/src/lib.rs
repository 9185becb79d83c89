//! The fuzz targets of wxrefund's C ABI. Their logic is in `targets.rs`, shared with the
//! stable replay test `tests/fuzz_replay.rs`; each `fuzz_targets/*.rs` is one line.

mod targets;

pub use targets::{
    apiv3_notification, config_json, http_answers, query_json, refund_request, wecom_callback,
};

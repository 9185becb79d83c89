//! A crate that depends on wxrefund, built by packaging/check-rust-dependent.sh: it must
//! compile without cbindgen and without writing into wxrefund's folder.

fn main() {
    let error = wxrefund::Config::from_json("{}").expect_err("an empty configuration is refused");
    println!(
        "wxrefund {} as a dependency: Config::from_json(\"{{}}\") -> {}",
        wxrefund::VERSION,
        error.kind.name()
    );
    let query = wxrefund::RefundQuery::by_out_refund_no("R1");
    println!("{query:?}");
}

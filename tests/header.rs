//! include/wxrefund.h is generated from `src/ffi` by cbindgen (configured by cbindgen.toml)
//! and checked in. This test regenerates it into memory and fails when the checked-in file
//! differs; `WXREFUND_WRITE_HEADER=1 cargo test --test header` rewrites the file instead.
//!
//! The generation lives here, not in build.rs, so that a crate depending on wxrefund neither
//! compiles cbindgen nor writes into this folder.

use std::path::Path;

/// The header as cbindgen generates it now.
fn generate() -> String {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    let bindings =
        cbindgen::generate_with_config(crate_dir, config).expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn header_is_in_sync_with_src_ffi() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/wxrefund.h");
    let generated = generate();
    if std::env::var_os("WXREFUND_WRITE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("include/wxrefund.h is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let first = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "include/wxrefund.h is out of date (first difference at line {}):\n  checked in: {:?}\n  generated:  {:?}\n\
             regenerate it with `WXREFUND_WRITE_HEADER=1 cargo test -p wxrefund --test header` and commit it",
            first + 1,
            checked_in.lines().nth(first).unwrap_or("<end of file>"),
            generated.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn header_has_no_line_comments() {
    // C89 has no `//` comments (scripts/test-c.sh compiles the header with -std=c89): look for
    // one outside /* */ comments and string literals.
    let header = generate();
    let bytes = header.as_bytes();
    let (mut in_comment, mut in_string, mut line) = (false, false, 1);
    for i in 0..bytes.len() {
        let next = bytes.get(i + 1).copied();
        match bytes[i] {
            b'\n' => line += 1,
            b'*' if in_comment && next == Some(b'/') => in_comment = false,
            b'/' if !in_comment && !in_string && next == Some(b'*') => in_comment = true,
            b'/' if !in_comment && !in_string && next == Some(b'/') => {
                panic!("line {line} of the generated header has a // comment")
            }
            b'"' if !in_comment => in_string = !in_string,
            _ => {}
        }
    }
    assert!(
        !in_comment && !in_string,
        "the generated header ends inside a comment or string"
    );
}

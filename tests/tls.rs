//! Trust the host controls: a loopback HTTPS server whose certificate comes
//! from a private CA made here (as behind a TLS-inspecting proxy) is refused
//! by default with an error that names the problem, and reached only when
//! the configuration trusts that CA (`tls_ca_file`, `tls_ca_pem`,
//! `tls_roots: "system"`). It relays to the simulator, so a reached server
//! answers real refunds.

mod support;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use support::sim;
use wxrefund::{Client, ErrorKind, RefundQuery};

/// A private CA and a certificate it issued for `names`.
struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wxrefund test proxy CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let server_cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server_chain: vec![server_cert.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    }
}

/// An HTTPS server on loopback that relays each connection's plaintext to `upstream`.
fn tls_relay(pki: &Pki, upstream: String) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (config, upstream) = (config.clone(), upstream.clone());
            std::thread::spawn(move || relay(config, client, &upstream));
        }
    });
    port
}

/// Terminates TLS on `client` and copies bytes both ways with `upstream`,
/// one exchange at a time (a request, then its answer).
fn relay(config: Arc<rustls::ServerConfig>, client: TcpStream, upstream: &str) {
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, client);
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = tls.sock.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = server.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buffer = [0u8; 16384];
    loop {
        let mut moved = false;
        match tls.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if server.write_all(&buffer[..n]).is_err() {
                    return;
                }
                moved = true;
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
        match server.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if tls
                    .write_all(&buffer[..n])
                    .and_then(|()| tls.flush())
                    .is_err()
                {
                    return;
                }
                moved = true;
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
        if !moved {
            std::thread::yield_now();
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn client(config: &Value) -> Result<Client, wxrefund::Error> {
    Client::from_json(&config.to_string())
}

#[test]
fn a_private_ca_is_trusted_only_when_configured() {
    let sim = sim();
    let pki = pki(&["localhost"]);
    let upstream = sim.base_url().trim_start_matches("http://").to_string();
    let port = tls_relay(&pki, upstream);
    let mut config = sim.client_config();
    config["base_url"] = json!(format!("https://localhost:{port}"));
    config["max_retries"] = json!(0);
    let query = RefundQuery::by_out_refund_no("TLS-NONE");

    // Default: Mozilla's roots only. Refused before anything is sent, saying why.
    let error = client(&config).unwrap().query_refund(&query).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transport);
    assert!(!error.outcome_unknown, "{error}");
    assert!(error.message.contains("UnknownIssuer"), "{error}");
    assert!(error.message.contains("tls_ca_file"), "{error}");

    // Trusted by file: the query reaches the simulator through TLS.
    let dir = std::env::temp_dir().join(format!("wxrefund-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("proxy-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let mut by_file = config.clone();
    by_file["tls_ca_file"] = json!(ca_file);
    let error = client(&by_file).unwrap().query_refund(&query).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound, "verified answer: {error}");

    // Trusted by PEM text, and a refund goes through end to end.
    let mut by_pem = config.clone();
    by_pem["tls_ca_pem"] = json!(pki.ca_pem);
    let trusted = client(&by_pem).unwrap();
    let request = json!({"out_trade_no": "T20261122000001", "out_refund_no": "TLS-1",
        "amount": {"refund": 1, "total": 10000, "currency": "CNY"}});
    trusted.create_refund_json(&request.to_string()).unwrap();
    let refund = trusted
        .query_refund(&RefundQuery::by_out_refund_no("TLS-1"))
        .unwrap();
    assert_eq!(refund.field("out_refund_no"), Some("TLS-1"));

    // The host's trust store: rustls-native-certs reads SSL_CERT_FILE.
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let mut system = config.clone();
    system["tls_roots"] = json!("system");
    let error = client(&system).unwrap().query_refund(&query).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound, "{error}");
    system["tls_roots"] = json!("bundled+system");
    let error = client(&system).unwrap().query_refund(&query).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound, "{error}");
    std::env::remove_var("SSL_CERT_FILE");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_certificate_for_another_name_is_refused_naming_the_problem() {
    let sim = sim();
    let pki = pki(&["pay.example.com"]);
    let upstream = sim.base_url().trim_start_matches("http://").to_string();
    let port = tls_relay(&pki, upstream);
    let mut config = sim.client_config();
    config["base_url"] = json!(format!("https://localhost:{port}"));
    config["max_retries"] = json!(0);
    config["tls_ca_pem"] = json!(pki.ca_pem);
    let error = client(&config)
        .unwrap()
        .query_refund(&RefundQuery::by_out_refund_no("TLS-NONE"))
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transport);
    assert!(error.message.contains("NotValidForName"), "{error}");
    assert!(error.message.contains("base_url"), "{error}");
}

#[test]
fn unusable_trust_settings_are_configuration_errors() {
    let sim = sim();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut config = sim.client_config();
        edit(&mut config);
        client(&config).err()
    };
    let field_of = |error: Option<wxrefund::Error>| {
        let error = error.expect("refused");
        assert_eq!(error.kind, ErrorKind::InvalidConfig, "{error}");
        error.field.clone().unwrap_or_default()
    };
    assert_eq!(
        field_of(with(&|c| c["tls_ca_pem"] = json!("not a certificate"))),
        "tls_ca_pem"
    );
    assert_eq!(
        field_of(with(&|c| c["tls_ca_file"] = json!("/nonexistent/ca.pem"))),
        "tls_ca_file"
    );
    assert_eq!(
        field_of(with(&|c| c["tls_ca_file"] = json!("/dev/zero"))),
        "tls_ca_file"
    );
    let error = with(&|c| c["tls_roots"] = json!("none")).expect("refused");
    assert!(error.message.contains("tls_roots"), "{error}");
    // There is no way to turn verification off: such a field is unknown.
    let error = with(&|c| c["tls_verify"] = json!(false)).expect("refused");
    assert!(error.message.contains("tls_verify"), "{error}");
}

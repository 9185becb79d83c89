//! TLS for every HTTPS connection: rustls with the roots the configuration
//! chooses (`tls_roots`, `tls_ca_file`, `tls_ca_pem`). Certificate
//! verification is always on: there is no verifier here but rustls's own.

use crate::config::{Config, TlsRoots};
use crate::error::{Error, Result};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::sync::Arc;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// The rustls client configuration of one client: its roots, and the
/// crypto provider of the build.
pub(crate) fn client_config(config: &Config) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    if matches!(
        config.tls_roots,
        TlsRoots::Bundled | TlsRoots::BundledAndSystem
    ) {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if matches!(
        config.tls_roots,
        TlsRoots::System | TlsRoots::BundledAndSystem
    ) {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(Error::config(
                "tls_roots",
                "no usable certificate in the host's trust store \
                 (SSL_CERT_FILE, SSL_CERT_DIR or the system bundle)",
            ));
        }
    }
    for (field, pem) in config.tls_ca_pems()? {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate = certificate.map_err(|_| {
                Error::config(
                    field,
                    "not a PEM certificate bundle (-----BEGIN CERTIFICATE-----)",
                )
            })?;
            roots.add(certificate).map_err(|e| {
                Error::config(field, format!("a certificate is not usable as a root: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::config(
                field,
                "holds no certificate (-----BEGIN CERTIFICATE-----)",
            ));
        }
    }
    let provider = Arc::new(crate::crypto::tls_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("tls_roots", format!("TLS setup failed: {e}")))?;
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// Wraps connections to `https://` origins in TLS; plain ones (loopback
/// `http://`) pass through.
#[derive(Debug)]
pub(crate) struct Tls(pub(crate) Arc<ClientConfig>);

impl<In: Transport> Connector<In> for Tls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .ok_or(ureq::Error::Tls("the URL has no host to verify"))?;
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the URL's host is not a valid TLS server name"))?
            .to_owned();
        let mut connection = ClientConnection::new(self.0.clone(), name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        // A refused certificate stays a rustls error, which names the problem.
        connection.complete_io(&mut socket).map_err(|error| {
            match error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => ureq::Error::Rustls(tls.clone()),
                None => ureq::Error::Io(error),
            }
        })?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

/// An established TLS connection.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

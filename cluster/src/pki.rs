//! The cluster's own PKI: a cluster CA made by `rampart cluster init`,
//! node certificates issued by `rampart cluster cert`, and the rustls
//! configurations (TLS 1.3 only, mutual authentication, ring) that the
//! QUIC transport uses.
//!
//! A node certificate names the node twice: by its configured name and by
//! `node-<id>.rampart`. The transport checks the second against the node
//! id a peer claims, since a chain to the cluster CA proves only that the
//! peer is *some* member.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::bounded_read::ReadError;
use crate::private_files::{
    PUBLIC_FILE_MODE, SECRET_FILE_MODE, TrustError, create_private_dir_all, read_secret,
    read_trusted,
};

/// File names inside a CA directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA's private key (mode 0600).
pub const CA_KEY: &str = "ca.key";

/// The subject common name of every cluster CA.
const CA_NAME: &str = "Rampart cluster CA";

/// A PKI error, with the file it concerns where there is one.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file exists and would be overwritten.
    #[error("{0}: already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A node name that is not one plain DNS label outside the reserved space.
    #[error(
        "node name {0:?} must be one DNS label: 1-63 letters, digits or '-', not starting or \
         ending with '-', no dots, and not 'rampart' (node-<id>.rampart is reserved)"
    )]
    BadName(String),
    /// The client verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(String),
    /// A private key that group or others may access, or a certificate
    /// another user may change (docs/ops.md §4).
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    /// A file that is not a regular one, or too large.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// The largest PEM file read (a certificate chain or a key): real ones
/// are a few KiB.
pub const MAX_PEM_BYTES: usize = 1 << 20;

/// Read a certificate file: at most [`MAX_PEM_BYTES`], of a regular file
/// no other user may change (a CA swapped in would admit its members).
fn read_cert_pem(path: &Path) -> Result<Vec<u8>, PkiError> {
    Ok(read_trusted(path, MAX_PEM_BYTES, "certificate file")?)
}

/// Read a private key file: at most [`MAX_PEM_BYTES`], of a regular file
/// only its owner (root or this user) may access.
fn read_key_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, PkiError> {
    Ok(read_secret(path, MAX_PEM_BYTES, what)?)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The name every node certificate carries for node `id`.
pub fn node_dns_name(id: u16) -> String {
    format!("node-{id}.rampart")
}

/// The reserved name space of node identities (`node-<id>.rampart`).
const RESERVED_DOMAIN: &str = "rampart";

/// Whether `name` is usable as a node name: one plain DNS label (RFC 1035
/// section 2.3.1: letters, digits and hyphens, 1–63 of them, starting and
/// ending with a letter or digit), not the reserved `rampart`. A name with
/// dots could reach into the reserved `.rampart` space, where the name
/// `node-2.rampart` on node 3's certificate would let node 3 pose as node 2.
pub fn valid_node_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.eq_ignore_ascii_case(RESERVED_DOMAIN)
}

/// Whether a certificate's DNS name lies in the reserved node space.
fn is_node_identity(name: &str) -> bool {
    let n = name.trim_end_matches('.');
    n.len() > RESERVED_DOMAIN.len()
        && n.as_bytes()[n.len() - RESERVED_DOMAIN.len() - 1] == b'.'
        && n[n.len() - RESERVED_DOMAIN.len()..].eq_ignore_ascii_case(RESERVED_DOMAIN)
}

/// Validity window: from a day ago for ten years. The year is enough
/// precision; clocks in a cluster are expected to agree within minutes.
fn validity(params: &mut CertificateParams, years: i32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let year = 1970 + i32::try_from(secs / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years, 1, 1);
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Write `data` to a new file with `mode` (set explicitly, whatever the
/// umask), refusing to overwrite.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    crate::private_files::write_new(path, data, mode).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            PkiError::Exists(path.to_path_buf())
        } else {
            PkiError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })
}

/// Create a cluster CA in `dir` (`ca.pem`, and `ca.key` readable by the
/// owner only; a directory it creates is 0700). Refuses to overwrite an
/// existing CA.
pub fn init_ca(dir: &Path) -> Result<PathBuf, PkiError> {
    create_private_dir_all(dir).map_err(io(dir))?;
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    for p in [&cert_path, &key_path] {
        if p.exists() {
            return Err(PkiError::Exists(p.clone()));
        }
    }
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    validity(&mut params, 20);
    let cert = params.self_signed(&key)?;
    write_new(&key_path, key.serialize_pem().as_bytes(), SECRET_FILE_MODE)?;
    write_new(&cert_path, cert.pem().as_bytes(), PUBLIC_FILE_MODE)?;
    Ok(cert_path)
}

/// Paths of an issued node certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// Issue a certificate for node `id` named `name`, signed by the CA in
/// `ca_dir`, written to `out` as `node-<id>.pem` and `node-<id>.key`.
pub fn issue_node_cert(ca_dir: &Path, id: u16, name: &str, out: &Path) -> Result<Issued, PkiError> {
    if !valid_node_name(name) {
        // Echo a bounded prefix: the name may be anything an operator (or a
        // script) passed.
        let mut shown: String = name.chars().take(64).collect();
        if shown.len() < name.len() {
            shown.push_str(&format!("… ({} bytes)", name.len()));
        }
        return Err(PkiError::BadName(shown));
    }
    let key_path = ca_dir.join(CA_KEY);
    let key_pem = read_key_pem(&key_path, "CA private key")?;
    let key_pem = String::from_utf8_lossy(&key_pem);
    let ca_key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::Pem {
        path: key_path.clone(),
        reason: format!("not a CA private key: {e}"),
    })?;
    // The issuer is rebuilt from the fixed CA subject and its key: that is
    // all a signature and the issuer/authority-key-id fields need.
    let ca_cert_path = ca_dir.join(CA_CERT);
    if !ca_cert_path.exists() {
        return Err(PkiError::Pem {
            path: ca_cert_path,
            reason: "missing; run `rampart cluster init` first".into(),
        });
    }
    let issuer = Issuer::new(ca_params(), ca_key);

    let mut params = CertificateParams::new(vec![name.to_string(), node_dns_name(id)])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params, 10);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    create_private_dir_all(out).map_err(io(out))?;
    let issued = Issued {
        cert: out.join(format!("node-{id}.pem")),
        key: out.join(format!("node-{id}.key")),
    };
    for p in [&issued.cert, &issued.key] {
        if p.exists() {
            return Err(PkiError::Exists(p.clone()));
        }
    }
    write_new(
        &issued.key,
        key.serialize_pem().as_bytes(),
        SECRET_FILE_MODE,
    )?;
    write_new(&issued.cert, cert.pem().as_bytes(), PUBLIC_FILE_MODE)?;
    Ok(issued)
}

/// A node's TLS material, loaded and checked.
#[derive(Debug, Clone)]
pub struct NodeTls {
    /// The cluster CA.
    pub ca: CertificateDer<'static>,
    /// The node's chain (leaf first).
    pub chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let data = read_cert_pem(path)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&data).collect();
    let certs = certs.map_err(|e| PkiError::Pem {
        path: path.to_path_buf(),
        reason: format!("bad PEM: {e}"),
    })?;
    if certs.is_empty() {
        return Err(PkiError::Pem {
            path: path.to_path_buf(),
            reason: "no certificate in file".into(),
        });
    }
    Ok(certs)
}

impl NodeTls {
    /// Load the CA certificate and the node certificate (refused if
    /// another user may change them) and its key (refused if group or
    /// others may access it), docs/ops.md §4.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Self, PkiError> {
        let mut cas = read_pem_certs(ca)?;
        if cas.len() > 1 {
            // Only one root is trusted: the others would be ignored
            // without a word, and an operator who appended a new CA to
            // move to it would find its nodes refused.
            return Err(PkiError::Pem {
                path: ca.to_path_buf(),
                reason: format!(
                    "holds {} certificates; the cluster CA file must hold exactly one",
                    cas.len()
                ),
            });
        }
        let ca_cert = cas.remove(0);
        let chain = read_pem_certs(cert)?;
        let key_data = read_key_pem(key, "TLS private key")?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_data).map_err(|e| PkiError::Pem {
            path: key.to_path_buf(),
            reason: format!("no private key: {e}"),
        })?;
        let tls = NodeTls {
            ca: ca_cert,
            chain,
            key: Arc::new(key_der),
        };
        // Build both configurations once so a mismatched key or a
        // certificate from another CA is an error at load time.
        tls.server_config(&[b"check"])?;
        tls.client_config(&[b"check"])?;
        tls.verify_peer(&tls.chain, None)
            .map_err(|reason| PkiError::Pem {
                path: cert.to_path_buf(),
                reason: format!("not issued by the cluster CA in {}: {reason}", ca.display()),
            })?;
        Ok(tls)
    }

    /// Build from material in memory (tests).
    pub fn from_der(
        ca: CertificateDer<'static>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        NodeTls {
            ca,
            chain,
            key: Arc::new(key),
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn roots(&self) -> Result<rustls::RootCertStore, PkiError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone())?;
        Ok(roots)
    }

    /// Server side: TLS 1.3, client certificates required and chained to
    /// the cluster CA.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, PkiError> {
        let p = Self::provider();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.roots()?),
            p.clone(),
        )
        .build()
        .map_err(|e| PkiError::Verifier(e.to_string()))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(p)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Ok(cfg)
    }

    /// Client side: TLS 1.3, the server must chain to the cluster CA and
    /// name the node dialled; presents this node's certificate.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, PkiError> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(Self::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Ok(cfg)
    }

    /// Check a peer's chain against the cluster CA and, when `id` is
    /// given, that its leaf names `node-<id>.rampart`.
    pub fn verify_peer(&self, chain: &[CertificateDer<'_>], id: Option<u16>) -> Result<(), String> {
        let leaf = chain.first().ok_or("no certificate")?;
        let cert =
            webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("bad certificate: {e}"))?;
        let anchor = webpki::anchor_from_trusted_cert(&self.ca)
            .map_err(|e| format!("bad CA certificate: {e}"))?
            .to_owned();
        let now = rustls::pki_types::UnixTime::now();
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            chain.get(1..).unwrap_or(&[]),
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| format!("not issued by the cluster CA: {e}"))?;
        if let Some(id) = id {
            let name = ServerName::try_from(node_dns_name(id)).map_err(|e| e.to_string())?;
            cert.verify_is_valid_for_subject_name(&name)
                .map_err(|_| format!("certificate does not name node {id}"))?;
            // One identity per certificate: a leaf that also names another
            // node (issued before names were checked) proves neither.
            let own = node_dns_name(id);
            if let Some(other) = cert
                .valid_dns_names()
                .find(|n| is_node_identity(n) && !n.eq_ignore_ascii_case(&own))
            {
                return Err(format!(
                    "certificate names node {id} and also {other}: one certificate, one node"
                ));
            }
        }
        Ok(())
    }

    /// Check that a verified peer chain's leaf also carries the node name
    /// the configuration (or the Raft membership) gives that peer.
    pub fn verify_peer_name(&self, chain: &[CertificateDer<'_>], name: &str) -> Result<(), String> {
        let leaf = chain.first().ok_or("no certificate")?;
        let cert =
            webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("bad certificate: {e}"))?;
        if cert.valid_dns_names().any(|n| n.eq_ignore_ascii_case(name)) {
            Ok(())
        } else {
            Err(format!("certificate does not carry the name '{name}'"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-pki-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn init_issue_load_and_verify() {
        let dir = tmp("ok");
        init_ca(&dir).expect("init");
        // Never overwrite a CA.
        assert!(matches!(init_ca(&dir), Err(PkiError::Exists(_))));
        let mode = fs::metadata(dir.join(CA_KEY)).expect("key").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        let a = issue_node_cert(&dir, 1, "fw-a", &dir).expect("issue");
        assert!(matches!(
            issue_node_cert(&dir, 1, "fw-a", &dir),
            Err(PkiError::Exists(_))
        ));
        let tls = NodeTls::load(&dir.join(CA_CERT), &a.cert, &a.key).expect("load");
        tls.verify_peer(&tls.chain, Some(1)).expect("names node 1");
        let wrong = tls
            .verify_peer(&tls.chain, Some(2))
            .expect_err("not node 2");
        assert!(wrong.contains("does not name node 2"), "{wrong}");

        // A certificate from another CA does not verify.
        let other = tmp("other");
        init_ca(&other).expect("init other");
        let b = issue_node_cert(&other, 2, "fw-b", &other).expect("issue other");
        let foreign = NodeTls::load(&other.join(CA_CERT), &b.cert, &b.key).expect("load other");
        assert!(tls.verify_peer(&foreign.chain, Some(2)).is_err());
        // Nor does a node config that mixes CAs.
        assert!(NodeTls::load(&dir.join(CA_CERT), &b.cert, &b.key).is_err());
        // A CA file with two certificates (one appended to move to it)
        // is refused, not read as its first.
        let both = dir.join("both-cas.pem");
        let mut pem = fs::read(dir.join(CA_CERT)).expect("ca");
        pem.extend(fs::read(other.join(CA_CERT)).expect("other ca"));
        fs::write(&both, pem).expect("write");
        let refused = NodeTls::load(&both, &a.cert, &a.key)
            .err()
            .map(|e| e.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("holds 2 certificates")),
            "{refused:?}"
        );

        assert!(matches!(
            issue_node_cert(&dir, 3, "bad name!", &dir),
            Err(PkiError::BadName(_))
        ));
        tls.verify_peer_name(&tls.chain, "fw-a")
            .expect("carries its name");
        tls.verify_peer_name(&tls.chain, "FW-A")
            .expect("names are case-blind");
        assert!(tls.verify_peer_name(&tls.chain, "fw-b").is_err());
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&other);
    }

    /// `--name node-2.rampart` on node 3's certificate once let node 3 pose
    /// as node 2: names are plain labels outside the reserved space, and a
    /// certificate that names two nodes (issued before) proves neither.
    #[test]
    fn names_in_the_reserved_space_or_with_dots_are_refused() {
        let dir = tmp("names");
        init_ca(&dir).expect("init");
        for bad in [
            "node-2.rampart",
            "NODE-2.RAMPART",
            "x.node-2.rampart",
            "node-2.rampart.",
            "rampart",
            "fw.example.com",
            "-fw",
            "fw-",
            "",
            "fw\0a",
            "fw a",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    issue_node_cert(&dir, 3, bad, &dir),
                    Err(PkiError::BadName(_))
                ),
                "{bad:?} must be refused"
            );
        }
        assert!(valid_node_name("fw-a") && valid_node_name(&"a".repeat(63)));

        // A leaf naming node 2 and node 3, as the old `cluster cert` made.
        let ca_key = KeyPair::from_pem(&fs::read_to_string(dir.join(CA_KEY)).unwrap()).unwrap();
        let issuer = Issuer::new(ca_params(), ca_key);
        let mut params =
            CertificateParams::new(vec!["node-2.rampart".into(), node_dns_name(3)]).unwrap();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params, 1);
        let key = KeyPair::generate().unwrap();
        let both = params.signed_by(&key, &issuer).unwrap();
        let a = issue_node_cert(&dir, 1, "fw-a", &dir).expect("issue");
        let tls = NodeTls::load(&dir.join(CA_CERT), &a.cert, &a.key).expect("load");
        let chain = vec![both.der().clone()];
        for id in [2, 3] {
            let e = tls
                .verify_peer(&chain, Some(id))
                .expect_err("two identities");
            assert!(e.contains("one certificate, one node"), "{e}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_key_that_group_or_others_may_read_is_refused_with_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tmp("open-key");
        init_ca(&dir).expect("init");
        let a = issue_node_cert(&dir, 1, "fw-a", &dir).expect("issue");
        fs::set_permissions(&a.key, fs::Permissions::from_mode(0o644)).unwrap();
        let e = NodeTls::load(&dir.join(CA_CERT), &a.cert, &a.key)
            .expect_err("a 0644 key is refused")
            .to_string();
        assert_eq!(
            e,
            format!(
                "{0}: this TLS private key has mode 0644, so group or others may read or change \
                 it; refusing to use it (make it the owner's only: chmod 600 {0})",
                a.key.display()
            )
        );
        fs::set_permissions(&a.key, fs::Permissions::from_mode(0o600)).unwrap();
        NodeTls::load(&dir.join(CA_CERT), &a.cert, &a.key).expect("0600 loads");

        // The CA key too, before it signs anything.
        let ca_key = dir.join(CA_KEY);
        fs::set_permissions(&ca_key, fs::Permissions::from_mode(0o640)).unwrap();
        let e = issue_node_cert(&dir, 2, "fw-b", &dir)
            .expect_err("a 0640 CA key is refused")
            .to_string();
        assert!(
            e.starts_with(&format!(
                "{}: this CA private key has mode 0640",
                ca_key.display()
            )),
            "{e}"
        );
        assert!(!dir.join("node-2.key").exists(), "nothing was issued");
        let _ = fs::remove_dir_all(&dir);
    }

    /// A certificate path naming a device or an oversized file is refused
    /// with the file and the limit, without reading it whole.
    #[test]
    fn pem_files_are_bounded_regular_files() {
        let dir = tmp("pem-bounds");
        init_ca(&dir).expect("ca");
        let a = issue_node_cert(&dir, 1, "a", &dir).expect("cert");
        let ca = dir.join(CA_CERT);
        let e = NodeTls::load(Path::new("/dev/zero"), &a.cert, &a.key).expect_err("device");
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file; a certificate file is read \
             only from a regular file"
        );
        let huge = dir.join("huge.pem");
        fs::write(&huge, vec![b'A'; MAX_PEM_BYTES + 1]).expect("write");
        let e = NodeTls::load(&ca, &huge, &a.key).expect_err("too large");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: over 1048576 bytes, the most a certificate file may be",
                huge.display()
            )
        );
        NodeTls::load(&ca, &a.cert, &a.key).expect("the real files");
        let _ = fs::remove_dir_all(&dir);
    }

    /// A CA certificate others may write could be swapped for one that
    /// admits their own members; a node certificate another user owns
    /// could be swapped for theirs. Both are refused, naming the fix.
    #[test]
    fn certificates_another_user_may_change_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tmp("cert-trust");
        init_ca(&dir).expect("ca");
        let a = issue_node_cert(&dir, 1, "a", &dir).expect("cert");
        let ca = dir.join(CA_CERT);
        fs::set_permissions(&ca, fs::Permissions::from_mode(0o646)).unwrap();
        let e = NodeTls::load(&ca, &a.cert, &a.key).expect_err("writable CA");
        assert_eq!(
            e.to_string(),
            format!(
                "{0}: this certificate file has mode 0646, so group or others may change it; \
                 refusing to trust it (take their write access away: chmod go-w {0})",
                ca.display()
            )
        );
        fs::set_permissions(&ca, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::lchown(&a.cert, Some(65533), None).unwrap();
        assert!(matches!(
            NodeTls::load(&ca, &a.cert, &a.key),
            Err(PkiError::Untrusted(TrustError::Owner { uid: 65533, .. }))
        ));
        std::os::unix::fs::lchown(&a.cert, Some(0), None).unwrap();
        NodeTls::load(&ca, &a.cert, &a.key).expect("the files as issued");
        let _ = fs::remove_dir_all(&dir);
    }
}

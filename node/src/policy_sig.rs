//! Operator-signed policies: with `[cluster] policy_signer` set, a node runs
//! a committed policy only if it carries an Ed25519 signature, by a key no
//! node holds, over its text and the version it is committed as.
//!
//! A member's key lets its holder write to the Raft log (`SECURITY.md` at
//! the repository's root): with a signer configured, what
//! such a holder commits is refused by every node alike (each checks the
//! same public key), and the running policy stays. Binding the version
//! makes a replay of an older signed policy fail too: versions only grow.
//!
//! The signature rides in the policy text as its last line, an ASA comment
//! the parser skips:
//!
//! ```text
//! ! rampart-signature v1 <version> <128 hex digits>
//! ```
//!
//! over the bytes `rampart policy v1\n<version>\n` followed by the text
//! before that line.

use std::path::Path;

use anyhow::Context as _;
use rampart_cluster::bounded_read::into_text;
use rampart_cluster::private_files::{
    PUBLIC_FILE_MODE, SECRET_FILE_MODE, create_private_dir_all, read_secret, read_trusted,
    sync_dir, write_new,
};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

/// How the signature line starts.
const SIG_PREFIX: &str = "! rampart-signature v1 ";

/// The file names `rampart cluster policy-key` writes.
pub const SIGNER_KEY_FILE: &str = "policy-signer.key";
/// The public half, for every node's `[cluster] policy_signer`.
pub const SIGNER_PUB_FILE: &str = "policy-signer.pub";

/// The operator's public key, as nodes hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer(Vec<u8>);

fn message(version: u64, body: &str) -> Vec<u8> {
    let mut m = format!("rampart policy v1\n{version}\n").into_bytes();
    m.extend_from_slice(body.as_bytes());
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Split `text` into the body and its signature line, if it has one (the
/// last non-blank line).
fn split(text: &str) -> Option<(&str, &str)> {
    let trimmed = text.trim_end();
    let start = trimmed.rfind('\n').map_or(0, |i| i + 1);
    let line = &trimmed[start..];
    line.strip_prefix(SIG_PREFIX)
        .map(|rest| (&text[..start], rest))
}

/// The version `text`'s signature line names, if it has one, unchecked:
/// the version a write of it is bound to (it commits as that version or
/// not at all, docs/ARCHITECTURE.md §7), on a node that checks no
/// signature too. A node that checks one verifies it with
/// [`Signer::verify`] first.
pub fn signed_for(text: &str) -> Option<u64> {
    let (_, sig) = split(text)?;
    sig.trim().split_once(' ')?.0.parse().ok()
}

/// The largest key file read: a public key is 65 bytes, a private one
/// (PKCS#8 in hex) under 200.
pub const MAX_KEY_FILE_BYTES: usize = 4096;

impl Signer {
    /// Read a public key file (`policy-signer.pub`: 64 hex digits),
    /// refused if another user may change it or its directory: a key
    /// swapped in would let its holder sign the cluster's policies
    /// (docs/ops.md §4).
    pub fn load(path: &Path) -> anyhow::Result<Signer> {
        let text = read_trusted(path, MAX_KEY_FILE_BYTES, "policy signer key")
            .and_then(|b| Ok(into_text(b, path, "policy signer key")?))
            .context("reading the policy signer key")?;
        let key = unhex(text.trim())
            .filter(|k| k.len() == 32)
            .with_context(|| {
                format!(
                    "{}: not an Ed25519 public key (64 hex digits, as `rampart cluster \
                     policy-key` writes)",
                    path.display()
                )
            })?;
        Ok(Signer(key))
    }

    /// Check that `text` carries this key's signature. With `version`, the
    /// signature must be for exactly that version (a committed policy);
    /// without, for the version it names (a write not yet committed).
    /// Returns the signed version.
    pub fn verify(&self, text: &str, version: Option<u64>) -> Result<u64, String> {
        let (body, sig) = split(text).ok_or_else(|| {
            "the policy is not signed: its last line must be the operator's \
             `! rampart-signature v1 …` (rampart configure --sign-key, or rampart \
             config sign)"
                .to_string()
        })?;
        let (v, s) = sig
            .trim()
            .split_once(' ')
            .ok_or("malformed signature line")?;
        let signed: u64 = v.parse().map_err(|_| "malformed signature version")?;
        let s = unhex(s.trim()).ok_or("malformed signature")?;
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&message(signed, body), &s)
            .map_err(|_| "the signature does not verify with the operator's key".to_string())?;
        match version {
            Some(v) if v != signed => Err(format!(
                "the signature is for version {signed}, but the policy was committed as \
                 version {v} (a replayed or stale signature)"
            )),
            _ => Ok(signed),
        }
    }
}

/// Generate an operator key pair in `dir`: the private key (PKCS#8, mode
/// 0600) stays with the operator, the public key (0644) goes to every
/// node. Modes are set explicitly whatever the umask, a directory made
/// for them is 0700, and neither file is ever overwritten: each is created
/// only if nothing (a link neither) is at its name.
pub fn generate(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("reading the generated key"))?;
    create_private_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = dir.join(SIGNER_KEY_FILE);
    let public = dir.join(SIGNER_PUB_FILE);
    let new = |path: &Path, text: String, mode: u32| {
        write_new(path, text.as_bytes(), mode).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("{} exists: never overwritten", path.display())
            }
            _ => anyhow::Error::new(e).context(format!("creating {}", path.display())),
        })
    };
    // The public half first: a key pair whose private half is missing is
    // made again; a private key without its public half is not usable.
    new(
        &public,
        format!("{}\n", hex(pair.public_key().as_ref())),
        PUBLIC_FILE_MODE,
    )?;
    if let Err(e) = new(&key, format!("{}\n", hex(pkcs8.as_ref())), SECRET_FILE_MODE) {
        // This call made the public key, and it is nothing without its
        // private half.
        let _ = std::fs::remove_file(&public);
        return Err(e);
    }
    sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
    Ok((key, public))
}

/// Sign `text` for `version` with the private key in `key_file`, refused
/// as any secret if group or others may access it or another user owns it
/// (docs/ops.md §4): the text with its signature line (an earlier one
/// replaced).
pub fn sign(text: &str, version: u64, key_file: &Path) -> anyhow::Result<String> {
    let hexed = read_secret(key_file, MAX_KEY_FILE_BYTES, "policy signing key")
        .and_then(|b| Ok(into_text(b, key_file, "policy signing key")?))
        .context("reading the policy signing key")?;
    let pkcs8 = unhex(hexed.trim())
        .with_context(|| format!("{}: not a policy signer key", key_file.display()))?;
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .map_err(|_| anyhow::anyhow!("{}: not an Ed25519 key", key_file.display()))?;
    let body = match split(text) {
        Some((body, _)) => body.to_string(),
        None if text.is_empty() || text.ends_with('\n') => text.to_string(),
        None => format!("{text}\n"),
    };
    let sig = pair.sign(&message(version, &body));
    Ok(format!(
        "{body}{SIG_PREFIX}{version} {}\n",
        hex(sig.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(tag: &str) -> (std::path::PathBuf, Signer) {
        let dir = std::env::temp_dir().join(format!("rampart-sig-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (key, public) = generate(&dir).expect("generate");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key).expect("key").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        (key, Signer::load(&public).expect("load"))
    }

    const POLICY: &str = "access-list A extended permit tcp any any eq 22\n\
                          access-group A in interface outside\n";

    #[test]
    fn a_signed_policy_verifies_for_its_version_only() {
        let (key, signer) = keys("ok");
        let signed = sign(POLICY, 7, &key).expect("sign");
        assert!(signed.starts_with(POLICY));
        assert_eq!(signer.verify(&signed, None), Ok(7));
        assert_eq!(signer.verify(&signed, Some(7)), Ok(7));
        // Replayed as another version: refused.
        let e = signer.verify(&signed, Some(8)).expect_err("stale");
        assert!(e.contains("for version 7"), "{e}");
        // Signing again replaces the line; the parser skips it.
        let again = sign(&signed, 8, &key).expect("re-sign");
        assert_eq!(again.matches(SIG_PREFIX).count(), 1);
        assert_eq!(signer.verify(&again, Some(8)), Ok(8));
        rampart_dataplane::policy::parse::parse_config(&again).expect("a comment to the parser");
        let _ = std::fs::remove_dir_all(key.parent().unwrap());
    }

    /// What a holder of a node's key could commit: unsigned, altered, or
    /// signed by another key. Every node refuses each alike.
    #[test]
    fn unsigned_altered_or_foreign_policies_are_refused() {
        let (key, signer) = keys("bad");
        let (other, _) = keys("other");
        let e = signer.verify(POLICY, Some(1)).expect_err("unsigned");
        assert!(e.contains("not signed"), "{e}");
        let signed = sign(POLICY, 1, &key).unwrap();
        let altered = signed.replace("eq 22", "eq 23");
        let e = signer.verify(&altered, Some(1)).expect_err("altered");
        assert!(e.contains("does not verify"), "{e}");
        let foreign = sign(POLICY, 1, &other).unwrap();
        assert!(signer.verify(&foreign, Some(1)).is_err());
        let version_edit = signed.replace("v1 1 ", "v1 2 ");
        assert!(signer.verify(&version_edit, Some(2)).is_err());
        // The version a write is bound to, read without a key.
        assert_eq!(signed_for(&signed), Some(1));
        assert_eq!(signed_for(&version_edit), Some(2));
        assert_eq!(signed_for(POLICY), None);
        assert_eq!(signed_for(&signed.replace("v1 1 ", "v1 x ")), None);
        let _ = std::fs::remove_dir_all(key.parent().unwrap());
        let _ = std::fs::remove_dir_all(other.parent().unwrap());
    }

    /// A key path naming a device or a file far longer than a key is
    /// refused at once, naming the file.
    #[test]
    fn key_files_are_bounded_regular_files() {
        let e = format!("{:#}", Signer::load(Path::new("/dev/zero")).unwrap_err());
        assert_eq!(
            e,
            "reading the policy signer key: /dev/zero: is a character device, not a regular \
             file; a policy signer key is read only from a regular file"
        );
        let (key, _) = keys("bounds");
        std::fs::write(&key, "0".repeat(MAX_KEY_FILE_BYTES + 1)).unwrap();
        let e = format!("{:#}", sign(POLICY, 1, &key).unwrap_err());
        assert!(
            e.ends_with("over 4096 bytes, the most a policy signing key may be"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(key.parent().unwrap());
    }

    /// A public key another user may change, or a private key others may
    /// read, is refused: the first would let them sign the cluster's
    /// policies, the second may have been read.
    #[test]
    fn keys_others_may_change_or_read_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let (key, _) = keys("trust");
        let public = key.with_file_name(SIGNER_PUB_FILE);
        assert_eq!(
            std::fs::metadata(&public).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = format!("{:#}", Signer::load(&public).unwrap_err());
        assert_eq!(
            e,
            format!(
                "reading the policy signer key: {0}: this policy signer key has mode 0664, so \
                 group or others may change it; refusing to trust it (take their write access \
                 away: chmod go-w {0})",
                public.display()
            )
        );
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::lchown(&public, Some(65533), None).unwrap();
        let e = format!("{:#}", Signer::load(&public).unwrap_err());
        assert!(e.contains("is owned by uid 65533"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", sign(POLICY, 1, &key).unwrap_err());
        assert_eq!(
            e,
            format!(
                "reading the policy signing key: {0}: this policy signing key has mode 0644, so \
                 group or others may read or change it; refusing to use it (make it the \
                 owner's only: chmod 600 {0})",
                key.display()
            )
        );
        // Never overwritten: a second generation in the same place fails
        // and leaves both files as they were.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = std::fs::read(&key).unwrap();
        let e = format!("{:#}", generate(key.parent().unwrap()).unwrap_err());
        assert!(e.ends_with("exists: never overwritten"), "{e}");
        assert_eq!(std::fs::read(&key).unwrap(), before);
        assert!(public.exists());
        let _ = std::fs::remove_dir_all(key.parent().unwrap());
    }
}

//! TSIG keys made through the API (`/v1/tsig-keys`), beside the config
//! file's `[[tsig_key]]`: one key ring, one namespace. A key made here
//! signs dynamic updates within its rules (the config file's transfer
//! rules and `notify_key` name the config file's keys: the file is
//! checked on its own). It is kept in the store, so every node of a
//! cluster knows it.
//!
//! The secret is shown once, in the reply that creates the key (made
//! here when the request gives none, as `tsig-keygen` would); reads show
//! the name, the algorithm and the rules only.

use std::sync::Arc;

use domain::base::ToName;
use rand::RngCore;

use super::views::ManagedBy;
use super::{Inner, Service, ServiceError};
use crate::config::parse_absolute;
use crate::input::{TsigKeyInput, UpdateRuleInput};
use crate::store::{StoreError, decode_tsig_key, encode_tsig_key};
use crate::tsig::{self, KeyRing, TsigKey};
use crate::update::UpdateRule;

/// Bytes of a secret made here: 256 bits, HMAC-SHA256's block-sized
/// recommendation (RFC 8945 §6 wants at least the hash's output size).
const GENERATED_SECRET_BYTES: usize = 32;

/// A key as the API shows it: never its secret, except to its creator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The name, absolute.
    pub name: String,
    /// The algorithm, as BIND writes it.
    pub algorithm: String,
    /// The config file or the API (never [`ManagedBy::Secondary`]).
    pub managed_by: ManagedBy,
    /// The update rules.
    pub update: Vec<UpdateRuleInput>,
    /// The base64 secret: only in the reply that creates the key.
    pub secret: Option<String>,
}

/// A key made through the API: as taken, and checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiKey {
    input: TsigKeyInput,
    key: TsigKey,
}

/// Checks every field of `input` by the rules the config file's keys
/// follow; every problem, one per field.
fn check(input: &TsigKeyInput) -> Result<TsigKey, Vec<String>> {
    let mut problems = Vec::new();
    let label = &input.name;
    let name = parse_absolute(label)
        .map_err(|e| problems.push(format!("name {label:?}: {e}")))
        .ok();
    let algorithm = match &input.algorithm {
        None => Some(tsig::DEFAULT_ALGORITHM),
        Some(a) => tsig::parse_algorithm(a)
            .map_err(|e| problems.push(format!("key {label:?}: {e}")))
            .ok(),
    };
    let secret = match &input.secret {
        None => {
            problems.push(format!("key {label:?}: no secret"));
            None
        }
        Some(s) => tsig::parse_secret(s)
            .map_err(|e| problems.push(format!("key {label:?}: {e}")))
            .ok(),
    };
    let mut update = Vec::new();
    for rule in &input.update {
        match UpdateRule::parse(&rule.name, &rule.types) {
            Ok(r) => update.push(r),
            Err(e) => problems.push(format!("key {label:?}: {e}")),
        }
    }
    match (name, algorithm, secret) {
        (Some(name), Some(algorithm), Some(secret)) if problems.is_empty() => Ok(TsigKey {
            name,
            algorithm,
            secret,
            update,
        }),
        _ => Err(problems),
    }
}

impl ApiKey {
    /// A stored key; `None` (logged) when it no longer passes the rules.
    fn decode(name: &str, body: &str) -> Option<ApiKey> {
        let input = match decode_tsig_key(body) {
            Ok(input) => input,
            Err(e) => {
                tracing::error!(key = name, "stored TSIG key does not decode, ignored: {e}");
                return None;
            }
        };
        match check(&input) {
            Ok(key) => Some(ApiKey { input, key }),
            Err(problems) => {
                tracing::error!(
                    key = name,
                    "stored TSIG key is not valid, ignored: {}",
                    problems.join("; ")
                );
                None
            }
        }
    }

    /// The checked key.
    pub(super) fn key(&self) -> &TsigKey {
        &self.key
    }

    fn info(&self, with_secret: bool) -> KeyInfo {
        KeyInfo {
            name: self.key.name.to_string() + ".",
            algorithm: self.key.algorithm.to_string(),
            managed_by: ManagedBy::Api,
            update: self.input.update.clone(),
            secret: with_secret.then(|| self.input.secret.clone()).flatten(),
        }
    }
}

/// The keys the store holds, checked.
pub(super) fn stored_keys(store: &crate::store::Store) -> Result<Vec<ApiKey>, StoreError> {
    Ok(store
        .tsig_keys()?
        .iter()
        .filter_map(|(name, body)| ApiKey::decode(name, body))
        .collect())
}

/// Where the config file and the API's keys collide: a key has one owner.
pub(super) fn key_problems(file: &[TsigKey], api: &[ApiKey]) -> Vec<String> {
    api.iter()
        .filter(|a| file.iter().any(|f| f.name.name_eq(&a.key.name)))
        .map(|a| {
            format!(
                "TSIG key {:?} is in the config file and was created through the API; a key has one owner: remove it from the config file, or delete it through the API first",
                a.input.name
            )
        })
        .collect()
}

/// The lower-cased absolute text of a key name: the store's key.
fn key_of(name: &impl ToName) -> String {
    name.to_name::<Vec<u8>>().to_string().to_ascii_lowercase() + "."
}

impl Inner {
    /// Every key: the config file's, then the API's.
    pub(super) fn all_keys(&self) -> Vec<TsigKey> {
        let api = self.keys.iter().map(|k| k.key.clone());
        self.file.tsig_keys.iter().cloned().chain(api).collect()
    }

    /// Swaps in the key ring of [`Inner::all_keys`], zones untouched.
    fn publish_keys(&mut self) {
        let current = self.live.published.load();
        let mut next = current.with_snapshot(current.snapshot.clone());
        next.keys = KeyRing::new(&self.all_keys());
        self.live.published.store(Arc::new(next));
    }
}

impl Service {
    /// Every key, the config file's first; no secrets.
    pub fn tsig_keys(&self) -> Vec<KeyInfo> {
        let inner = self.lock();
        let file = inner.file.tsig_keys.iter().map(|k| KeyInfo {
            name: k.name.to_string() + ".",
            algorithm: k.algorithm.to_string(),
            managed_by: ManagedBy::File,
            update: k
                .update
                .iter()
                .map(|r| UpdateRuleInput {
                    name: r.pattern.clone(),
                    types: r.types.iter().map(|t| t.to_string()).collect(),
                })
                .collect(),
            secret: None,
        });
        let api = inner.keys.iter().map(|k| k.info(false));
        file.chain(api).collect()
    }

    /// One key by name; no secret.
    pub fn tsig_key(&self, name: &str) -> Result<KeyInfo, ServiceError> {
        let wanted = parse_absolute(name).map_err(|_| no_key(name))?;
        self.tsig_keys()
            .into_iter()
            .find(|k| parse_absolute(&k.name).is_ok_and(|n| n.name_eq(&wanted)))
            .ok_or_else(|| no_key(name))
    }

    /// Makes a key (its secret too, when `input` has none), stores it and
    /// puts it in the key ring; the reply holds the secret, once.
    pub fn create_tsig_key(&self, mut input: TsigKeyInput) -> Result<KeyInfo, ServiceError> {
        self.catch_up()?;
        if input.secret.is_none() {
            let mut secret = [0u8; GENERATED_SECRET_BYTES];
            rand::rng().fill_bytes(&mut secret);
            input.secret = Some(domain::utils::base64::encode_string(&secret));
        }
        let key =
            check(&input).map_err(|problems| ServiceError::invalid("InvalidTsigKey", problems))?;
        let mut inner = self.lock();
        if inner.all_keys().iter().any(|k| k.name.name_eq(&key.name)) {
            let owner = if inner
                .file
                .tsig_keys
                .iter()
                .any(|k| k.name.name_eq(&key.name))
            {
                format!("the config file {}", inner.file_name())
            } else {
                "the API".to_string()
            };
            return Err(ServiceError::Conflict {
                code: "TsigKeyAlreadyExists",
                message: format!(
                    "a TSIG key named {:?} already exists (made by {owner}); delete it first or choose another name",
                    input.name
                ),
            });
        }
        input.name = key_of(&key.name);
        let body = encode_tsig_key(&input);
        let version = self
            .store_on_top(&mut inner)
            .create_tsig_key(&input.name, &body)?;
        self.wrote(version);
        let key = ApiKey { input, key };
        let info = key.info(true);
        inner.keys.push(key);
        inner.publish_keys();
        tracing::info!(key = %info.name, algorithm = %info.algorithm, "TSIG key created");
        Ok(info)
    }

    /// Deletes a key made through the API; the config file's are refused.
    pub fn delete_tsig_key(&self, name: &str) -> Result<(), ServiceError> {
        self.catch_up()?;
        let wanted = parse_absolute(name).map_err(|_| no_key(name))?;
        let mut inner = self.lock();
        if inner.file.tsig_keys.iter().any(|k| k.name.name_eq(&wanted)) {
            return Err(ServiceError::Conflict {
                code: "FileManaged",
                message: format!(
                    "TSIG key {name:?} is managed by the config file {}; remove it there and send SIGHUP",
                    inner.file_name()
                ),
            });
        }
        let Some(index) = inner.keys.iter().position(|k| k.key.name.name_eq(&wanted)) else {
            return Err(no_key(name));
        };
        let zones = inner.zones_naming_key(&wanted);
        if !zones.is_empty() {
            return Err(ServiceError::Conflict {
                code: "TsigKeyInUse",
                message: format!(
                    "TSIG key {name:?} is named in the transfer settings of zone {}; change them first (PUT or DELETE /v1/zones/{{zone}}/transfers)",
                    zones.join(", ")
                ),
            });
        }
        let stored = inner.keys[index].input.name.clone();
        let version = self.store_on_top(&mut inner).delete_tsig_key(&stored)?;
        self.wrote(version);
        inner.keys.remove(index);
        inner.publish_keys();
        tracing::info!(key = %stored, "TSIG key deleted");
        Ok(())
    }
}

fn no_key(name: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "NoSuchTsigKey",
        message: format!("no TSIG key named {name:?}"),
    }
}

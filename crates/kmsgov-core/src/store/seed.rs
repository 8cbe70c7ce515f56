//! A world's keys, aliases and grants written into a store: what a scenario
//! file describes, made live state, so that the service (and a server in
//! front of it) can be compared with the engine on the same world.

use kmsgov_authz::World;

use super::{AliasRecord, GrantRecord, KeyRecord, KeyVersionRecord, Store};
use crate::crypto::{KeyMaterial, KeySpec};
use crate::error::KmsError;
use crate::root_key::RootKey;

/// Writes every key of `world` (with fresh material of its spec, wrapped
/// under `root`), every alias and every grant into `store`. A key pending
/// deletion is due 30 days after `now`; a key pending import has no
/// material.
///
/// # Errors
///
/// A key's spec is one kmsgov holds no material for (`SM2`, say), or the
/// store refuses a record.
pub fn seed_world(
    store: &dyn Store,
    world: &World,
    root: &RootKey,
    now: i64,
) -> Result<(), KmsError> {
    for key in &world.keys {
        let spec: KeySpec = key.spec.parse()?;
        let state = key.state.name();
        let versions = if state == "PendingImport" {
            Vec::new()
        } else {
            let material = KeyMaterial::generate(spec)?;
            let wrapped_material = root
                .wrap(&key.id, 1, material.expose_secret())
                .map_err(|e| KmsError::internal(format!("wrapping key material: {e}")))?;
            vec![KeyVersionRecord {
                version: 1,
                created: now,
                on_demand: false,
                wrapped_material,
            }]
        };
        store.create_key(&KeyRecord {
            key_id: key.id.clone(),
            account: key.account.clone(),
            region: key.region.clone(),
            key_spec: key.spec.clone(),
            key_usage: key.usage.clone(),
            origin: key.origin.clone(),
            key_state: state.to_owned(),
            deletion_date: (state == "PendingDeletion").then_some(now + 86_400 * 30),
            multi_region: key.multi_region,
            aws_managed: key.aws_managed,
            policy: key.policy.policy.to_string(),
            tags: key.tags.clone(),
            creation_date: now,
            versions,
            ..KeyRecord::default()
        })?;
        for alias in &key.aliases {
            store.create_alias(&AliasRecord {
                account: key.account.clone(),
                region: key.region.clone(),
                name: alias.clone(),
                key_id: key.id.clone(),
                creation_date: now,
                last_updated: now,
            })?;
        }
    }
    for grant in &world.grants {
        let key = world
            .keys
            .get(grant.key)
            .ok_or_else(|| KmsError::internal("a grant of a key the world does not have"))?;
        store.create_grant(&GrantRecord {
            grant_id: grant.id.clone(),
            key_id: key.id.clone(),
            name: grant.name.clone(),
            creation_date: now,
            grantee: grant.grantee.clone(),
            retiring_principal: grant.retiring_principal.clone(),
            issuing_account: grant.issuing_account.clone(),
            operations: grant.operations.clone(),
            encryption_context_equals: grant.constraints.equals.clone(),
            encryption_context_subset: grant.constraints.subset.clone(),
            source_arn: grant.constraints.source_arn.clone(),
        })?;
    }
    Ok(())
}

//! The accounts' promises: one account per email, every acknowledged account kept and readable
//! once acknowledged, none that disappears and comes back, and no conflict with nobody.

use std::collections::{BTreeMap, BTreeSet};

use super::{Operation, anomaly};
use crate::analysis::{Anomaly, AnomalyKind, Counts};
use crate::op::{Function, OpType};

/// What the final reads say of one account: found with this id, found with another, missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Kept,
    Missing,
}

/// The final reads' verdict on one acknowledged account, with the operations that show it.
type Fates<'o, 'a> = BTreeMap<&'a str, (Fate, &'o Operation<'a>, Vec<&'o Operation<'a>>)>;

pub(super) fn check(operations: &[Operation<'_>], counts: &mut Counts) -> Vec<Anomaly> {
    let registrations: Vec<&Operation<'_>> =
        operations.iter().filter(|operation| operation.f() == Function::Register).collect();
    let reads: Vec<&Operation<'_>> = operations.iter().filter(|operation| operation.f() == Function::Read).collect();
    let final_reads: Vec<&Operation<'_>> =
        reads.iter().copied().filter(|read| read.invoke.value.final_read && read.outcome() == OpType::Ok).collect();
    let acknowledged: Vec<&Operation<'_>> =
        registrations.iter().copied().filter(|registration| registration.outcome() == OpType::Ok).collect();
    counts.acknowledged = acknowledged.len() as u64;

    let mut anomalies = duplicates(&acknowledged);
    let fates = fates(&acknowledged, &final_reads, counts);
    for (id, (fate, registration, covering)) in &fates {
        if *fate == Fate::Missing {
            counts.lost += 1;
            let mut involved = vec![*registration];
            involved.extend(covering.iter().copied());
            anomalies.push(anomaly(
                AnomalyKind::Lost,
                &involved,
                format!("account {id} was acknowledged, and the final read does not find it"),
            ));
        }
    }
    anomalies.extend(misread(&fates, &reads));
    anomalies.extend(surprises(&registrations, &acknowledged, &final_reads, counts));
    anomalies.extend(phantom_conflicts(&registrations));
    anomalies
}

/// What the final reads say of each acknowledged account; one no final read covers is counted
/// as unchecked.
fn fates<'o, 'a>(
    acknowledged: &[&'o Operation<'a>],
    final_reads: &[&'o Operation<'a>],
    counts: &mut Counts,
) -> Fates<'o, 'a> {
    let mut fates = BTreeMap::new();
    for registration in acknowledged {
        let (Some(id), Some(email)) = (registration.value().id.as_deref(), registration.value().email.as_deref())
        else {
            continue;
        };
        let covering: Vec<&Operation<'_>> = final_reads
            .iter()
            .copied()
            .filter(|read| {
                read.value().id.as_deref() == Some(id) && read.invoke.value.email.is_none()
                    || read.invoke.value.email.as_deref() == Some(email)
            })
            .collect();
        if covering.is_empty() {
            counts.unchecked += 1;
            continue;
        }
        let kept = covering
            .iter()
            .all(|read| read.value().found == Some(true) && read.value().id.as_deref().is_none_or(|found| found == id));
        fates.insert(id, (if kept { Fate::Kept } else { Fate::Missing }, *registration, covering));
    }
    fates
}

/// Reads by id during the run that missed an account that was acknowledged and kept: stale when
/// the read began after the 201, a flip when an earlier read had found it.
fn misread(fates: &Fates<'_, '_>, reads: &[&Operation<'_>]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for (id, (fate, registration, _)) in fates {
        if *fate != Fate::Kept {
            continue;
        }
        let of_id: Vec<&Operation<'_>> = reads
            .iter()
            .copied()
            .filter(|read| {
                !read.invoke.value.final_read
                    && read.outcome() == OpType::Ok
                    && read.invoke.value.id.as_deref() == Some(*id)
            })
            .collect();
        for missing in of_id.iter().filter(|read| read.value().found == Some(false)) {
            if missing.invoked() > registration.completed() {
                anomalies.push(anomaly(
                    AnomalyKind::StaleRead,
                    &[*registration, *missing],
                    format!("a read of {id} that began after its 201 did not find it"),
                ));
            } else if let Some(found) =
                of_id.iter().find(|read| read.value().found == Some(true) && read.completed() < missing.invoked())
            {
                anomalies.push(anomaly(
                    AnomalyKind::Flip,
                    &[*found, *missing],
                    format!("{id} was read as found, then as missing, and exists at the end"),
                ));
            }
        }
    }
    anomalies
}

/// What the final reads by email find that nothing asked for (an anomaly), or that was in doubt
/// (recovered).
fn surprises(
    registrations: &[&Operation<'_>],
    acknowledged: &[&Operation<'_>],
    final_reads: &[&Operation<'_>],
    counts: &mut Counts,
) -> Vec<Anomaly> {
    let registered: BTreeSet<&str> =
        registrations.iter().filter_map(|registration| registration.invoke.value.email.as_deref()).collect();
    let acknowledged_emails: BTreeSet<&str> =
        acknowledged.iter().filter_map(|registration| registration.value().email.as_deref()).collect();
    let mut anomalies = Vec::new();
    for read in final_reads.iter().filter(|read| read.value().found == Some(true)) {
        let Some(email) = read.invoke.value.email.as_deref() else { continue };
        if !registered.contains(email) {
            counts.unexpected += 1;
            anomalies.push(anomaly(
                AnomalyKind::UnexpectedAccount,
                &[*read],
                format!("the final read finds an account for {email}, which nobody registered"),
            ));
        } else if !acknowledged_emails.contains(email)
            && registrations.iter().any(|registration| {
                registration.invoke.value.email.as_deref() == Some(email) && registration.outcome() == OpType::Info
            })
        {
            counts.recovered += 1;
        }
    }
    anomalies
}

/// Acknowledged registrations of one email with more than one id.
fn duplicates(acknowledged: &[&Operation<'_>]) -> Vec<Anomaly> {
    let mut by_email: BTreeMap<&str, Vec<&Operation<'_>>> = BTreeMap::new();
    for registration in acknowledged {
        if let Some(email) = registration.value().email.as_deref() {
            by_email.entry(email).or_default().push(registration);
        }
    }
    by_email
        .into_iter()
        .filter_map(|(email, registrations)| {
            let ids: BTreeSet<&str> =
                registrations.iter().filter_map(|registration| registration.value().id.as_deref()).collect();
            (ids.len() > 1).then(|| {
                let ids: Vec<&str> = ids.into_iter().collect();
                anomaly(
                    AnomalyKind::DuplicateAccount,
                    &registrations,
                    format!("{email} was acknowledged {} times, with ids {}", ids.len(), ids.join(", ")),
                )
            })
        })
        .collect()
}

/// 409s for an email that no other registration had invoked before the 409 came.
fn phantom_conflicts(registrations: &[&Operation<'_>]) -> Vec<Anomaly> {
    registrations
        .iter()
        .filter(|registration| registration.outcome() == OpType::Fail && registration.value().status == Some(409))
        .filter(|conflict| {
            let email = conflict.invoke.value.email.as_deref();
            !registrations.iter().any(|other| {
                other.invoke.index != conflict.invoke.index
                    && other.invoke.value.email.as_deref() == email
                    && other.invoked() < conflict.completed()
            })
        })
        .map(|conflict| {
            let email = conflict.invoke.value.email.as_deref().unwrap_or("an email");
            anomaly(
                AnomalyKind::PhantomConflict,
                &[*conflict],
                format!("{email} was refused with 409, though no other client had registered it"),
            )
        })
        .collect()
}

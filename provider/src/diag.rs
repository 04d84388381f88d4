//! The one place where the client's errors become Terraform diagnostics: a summary naming the failed
//! action and object (`Unable to create HA group "web"`), a detail made of the error's sentence plus what
//! to do, and an attribute path when the server's validation error names a parameter that maps to one.
//! Resources call these helpers; nothing else inspects `pveha_pve::Error` to build a diagnostic.

use pveha_pve::Error;
use tfplugin::{AttributePath, Diagnostics};

/// How an API parameter maps to the attribute that set it, e.g. `("max_restart", "max_restart")`.
pub type ParamMap<'a> = &'a [(&'a str, &'a str)];

/// Adds the error diagnostic for a failed client call: `Unable to {verb} {object}`.
///
/// `object` names what was acted on as the user knows it (`HA group "web"`); `params` maps the API's
/// parameter names to attribute names so that a 400 `errors` entry points at the right HCL line.
pub fn api_error(
    diags: &mut Diagnostics,
    verb: &str,
    object: &str,
    err: &Error,
    params: ParamMap<'_>,
) {
    let summary = format!("Unable to {verb} {object}");
    let detail = format!("{}.{}", sentence(err), advice(err));
    match attribute_of(err, params) {
        Some(path) => diags.error_at(path, summary, detail),
        None => diags.error(summary, detail),
    }
}

/// Adds the warning form of [`api_error`], for failures that do not stop the operation.
pub fn api_warning(diags: &mut Diagnostics, verb: &str, object: &str, err: &Error) {
    diags.warning(
        format!("Unable to {verb} {object}"),
        format!("{}.{}", sentence(err), advice(err)),
    );
}

/// The error for a provider setting the client refused (`InvalidConfig`), at that setting's attribute.
pub fn config_error(diags: &mut Diagnostics, err: &Error) {
    let summary = "Invalid provider configuration";
    match err {
        Error::InvalidConfig { setting, problem } => diags.error_at(
            AttributePath::root(*setting),
            summary,
            format!("The provider setting {setting} is invalid: {problem}."),
        ),
        other => diags.error(summary, format!("{}.{}", sentence(other), advice(other))),
    }
}

/// The error for a create that finds the object already on the server: adopt it with `terraform import`.
pub fn already_exists(diags: &mut Diagnostics, type_name: &str, object: &str, id: &str) {
    diags.error(
        format!("{object} already exists"),
        format!(
            "{object} already exists on the cluster, so Terraform cannot create it. To manage it with Terraform, \
             import it into this resource's address instead:\n\n  terraform import {type_name}.<NAME> {id}\n\n\
             (replace {type_name}.<NAME> with the address of the resource block), or remove it from the cluster first."
        ),
    );
}

/// Compare-before-write: `fields` pairs each attribute with whether the server's copy differs from what
/// Terraform last read. Any difference is another writer's change; it is refused, never overwritten.
/// Returns true when nothing differs and the write may go ahead.
pub fn unchanged_elsewhere(diags: &mut Diagnostics, object: &str, fields: &[(&str, bool)]) -> bool {
    let changed: Vec<&str> = fields
        .iter()
        .filter(|(_, differs)| *differs)
        .map(|(f, _)| *f)
        .collect();
    if changed.is_empty() {
        return true;
    }
    diags.error(
        format!("{object} was changed outside Terraform"),
        format!(
            "{object} changed on the cluster since Terraform last read it ({}), so applying would silently \
             overwrite another writer's change. Nothing was written. Run terraform plan again to see the other \
             change, then apply.",
            changed.join(", ")
        ),
    );
    false
}

/// A delete's outcome (`verb` names it, e.g. `delete`): an object that is already gone counts as deleted.
pub fn deleted(diags: &mut Diagnostics, verb: &str, object: &str, result: Result<(), Error>) {
    match result {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => api_error(diags, verb, object, &e, &[]),
    }
}

/// The error for an object that was gone when Terraform read it back right after writing it.
pub fn vanished(diags: &mut Diagnostics, object: &str) {
    let subject = capitalized(object);
    diags.error(
        format!("{subject} disappeared"),
        format!("{subject} was removed on the cluster while Terraform was writing it; plan again to recreate it."),
    );
}

/// The error for an import whose ID names nothing on the server.
pub fn import_not_found(diags: &mut Diagnostics, object: &str, id: &str) {
    diags.error(
        format!("Cannot import {object}: it does not exist"),
        format!("The cluster has no {object}, so import ID {id:?} cannot be imported. Check the ID and the cluster."),
    );
}

/// The error's own sentence (the client's `Display` is one sentence without a trailing period).
fn sentence(err: &Error) -> String {
    match capitalized(&err.to_string()) {
        s if s.is_empty() => "The Proxmox VE API call failed".to_string(),
        s => s,
    }
}

/// `text` with its first letter upper-cased, to start a sentence.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What to do, for the errors whose sentence does not already say it.
fn advice(err: &Error) -> &'static str {
    match err {
        Error::NotFound { .. } => {
            " It was probably removed outside Terraform; refresh and plan again."
        }
        Error::Other { .. } => {
            " Check the cluster's task log and the values in the configuration, then apply again."
        }
        Error::Transport { .. } => {
            " Check the endpoint and that the Proxmox VE API is reachable from here."
        }
        _ => "",
    }
}

/// The attribute a validation error points at, when its parameter maps to one.
fn attribute_of(err: &Error, params: ParamMap<'_>) -> Option<AttributePath> {
    let errors = err.param_errors()?;
    errors.keys().find_map(|param| {
        params
            .iter()
            .find(|(api, _)| api == param)
            .map(|(_, attr)| AttributePath::root(*attr))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tfplugin::{PathStep, Severity};

    use super::*;

    fn only(diags: Diagnostics) -> tfplugin::Diagnostic {
        let mut all = diags.into_vec();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn validation_errors_point_at_the_attribute_that_set_the_parameter() {
        let err = Error::Validation {
            errors: BTreeMap::from([(
                "max_restart".to_string(),
                "value must have a minimum value of 0".to_string(),
            )]),
            message: "Parameter verification failed.".into(),
        };
        let mut diags = Diagnostics::new();
        api_error(
            &mut diags,
            "create",
            "HA resource \"ct:110\"",
            &err,
            &[("max_restart", "max_restart")],
        );
        let d = only(diags);
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.summary, "Unable to create HA resource \"ct:110\"");
        assert!(
            d.detail
                .contains("max_restart: value must have a minimum value of 0"),
            "{}",
            d.detail
        );
        assert_eq!(
            d.attribute.map(|p| p.0),
            Some(vec![PathStep::Attribute("max_restart".into())])
        );
    }

    #[test]
    fn unmapped_parameters_give_no_attribute_and_not_found_says_what_to_do() {
        let err = Error::NotFound {
            message: "no such ha group 'web'".into(),
        };
        let mut diags = Diagnostics::new();
        api_error(&mut diags, "read", "HA group \"web\"", &err, &[]);
        let d = only(diags);
        assert_eq!(d.attribute, None);
        assert!(
            d.detail
                .starts_with("Not found on the server: no such ha group 'web'."),
            "{}",
            d.detail
        );
        assert!(
            d.detail.contains("removed outside Terraform"),
            "{}",
            d.detail
        );
    }

    #[test]
    fn invalid_settings_point_at_the_provider_attribute() {
        let err = Error::InvalidConfig {
            setting: "tls_fingerprint",
            problem: "not 32 bytes".into(),
        };
        let mut diags = Diagnostics::new();
        config_error(&mut diags, &err);
        let d = only(diags);
        assert_eq!(d.attribute, Some(AttributePath::root("tls_fingerprint")));
        assert!(d.detail.contains("not 32 bytes"));
    }

    #[test]
    fn already_exists_names_the_import_command_with_the_id() {
        let mut diags = Diagnostics::new();
        already_exists(&mut diags, "pveha_group", "HA group \"web\"", "web");
        let d = only(diags);
        assert!(
            d.detail.contains("terraform import pveha_group.<NAME> web"),
            "{}",
            d.detail
        );
    }
}

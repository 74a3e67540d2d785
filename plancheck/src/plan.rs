//! A Terraform or OpenTofu plan (`show -json`, format 1.x), read into borrowed pieces of its text.
//!
//! Only the skeleton is parsed up front: addresses, types, actions and where each value lies.
//! Values are rendered when a policy or the snapshot asks for them (see [`crate::json`]), so a
//! 50 MB plan costs little more than its text.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json;
use crate::{PlanError, SENSITIVE, UNKNOWN};

/// What a plan does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Read,
    Create,
    Update,
    /// Delete then create, or create then delete (`create_before_destroy`).
    Replace,
    Delete,
    /// Terraform stops managing the resource and leaves it be (a `removed` block, Terraform 1.7+).
    Forget,
    /// A new instance is created and the old one forgotten.
    CreateForget,
    /// Action strings this version of plancheck does not know; [`ResourceChange::actions`] has them.
    Unknown,
}

impl Action {
    fn from_actions(actions: &[String]) -> Self {
        let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
        match actions.as_slice() {
            ["no-op"] => Self::NoOp,
            ["read"] => Self::Read,
            ["create"] => Self::Create,
            ["update"] => Self::Update,
            ["delete"] => Self::Delete,
            ["delete", "create"] | ["create", "delete"] => Self::Replace,
            ["forget"] => Self::Forget,
            ["create", "forget"] => Self::CreateForget,
            _ => Self::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NoOp => "no-op",
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::Forget => "forget",
            Self::CreateForget => "create-forget",
            Self::Unknown => "unknown",
        }
    }

    /// True when the resource, and whatever it holds, is gone after apply, even if briefly.
    pub(crate) fn destroys(self) -> bool {
        matches!(self, Self::Replace | Self::Delete)
    }

    /// True when the object the plan starts from leaves Terraform's management without being
    /// destroyed: nothing will manage, or protect, it any more.
    pub fn forgets(self) -> bool {
        matches!(self, Self::Forget | Self::CreateForget)
    }

    /// True when the plan's end state holds no object for this change's address.
    fn removes(self) -> bool {
        matches!(self, Self::Delete | Self::Forget)
    }

    /// True when the change leaves the resource as it is.
    pub(crate) fn is_no_change(self) -> bool {
        matches!(self, Self::NoOp | Self::Read)
    }
}

/// A value of the plan: borrowed from its text, or owned when built elsewhere (a static check).
pub type Raw<'a> = Cow<'a, RawValue>;

/// The JSON values of one resource change, as Terraform gives them.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub before: Option<Raw<'a>>,
    pub after: Option<Raw<'a>>,
    pub after_unknown: Option<Raw<'a>>,
    pub before_sensitive: Option<Raw<'a>>,
    pub after_sensitive: Option<Raw<'a>>,
}

/// One managed entry of `resource_changes`.
#[derive(Debug, Clone)]
pub struct ResourceChange<'a> {
    pub address: String,
    /// `module.app` for a resource in a child module, with instance keys as Terraform prints them.
    pub module: Option<String>,
    pub kind: String,
    pub action: Action,
    /// The action strings as the plan has them.
    pub actions: Vec<String>,
    /// The attribute paths that force a replacement, as Terraform reports them.
    pub replace_paths: Vec<String>,
    pub change: Change<'a>,
}

impl ResourceChange<'_> {
    /// The values after apply (before it, for a delete or forget), with unknown and sensitive
    /// values marked.
    pub fn values(&self) -> Value {
        self.value_at(&[])
    }

    /// One attribute of [`Self::values`], such as `["environment_variables", "REDIS_URL"]`;
    /// `Null` when absent.
    pub(crate) fn value_at(&self, path: &[&str]) -> Value {
        let change = &self.change;
        if self.action.removes() {
            render_at(change.before.as_deref(), None, change.before_sensitive.as_deref(), path)
        } else {
            render_at(change.after.as_deref(), change.after_unknown.as_deref(), change.after_sensitive.as_deref(), path)
        }
    }
}

/// One resource of the plan's end state (`planned_values`, or `prior_state` for a refresh-only
/// plan).
#[derive(Debug, Clone)]
pub struct StateResource<'a> {
    pub address: String,
    pub module: Option<String>,
    pub kind: String,
    pub values: Option<Raw<'a>>,
    pub sensitive_values: Option<Raw<'a>>,
}

/// Where a plan's end state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSource {
    /// `planned_values`: what a normal plan will leave.
    PlannedValues,
    /// `prior_state`: a refresh-only plan changes nothing, so the state it refreshed is the end.
    PriorState,
    /// Neither is in the plan: the changes' `after` values.
    Changes,
}

/// A resource as the plan leaves it, read from its change when it has one (unknown values are
/// marked there) and from the end state otherwise.
#[derive(Debug, Clone, Copy)]
pub enum EndResource<'p, 'a> {
    Changed(&'p ResourceChange<'a>),
    Kept(&'p StateResource<'a>),
}

impl EndResource<'_, '_> {
    pub fn address(&self) -> &str {
        match self {
            Self::Changed(change) => &change.address,
            Self::Kept(resource) => &resource.address,
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Self::Changed(change) => &change.kind,
            Self::Kept(resource) => &resource.kind,
        }
    }

    pub fn module(&self) -> Option<&str> {
        match self {
            Self::Changed(change) => change.module.as_deref(),
            Self::Kept(resource) => resource.module.as_deref(),
        }
    }

    pub fn value_at(&self, path: &[&str]) -> Value {
        match self {
            Self::Changed(change) => change.value_at(path),
            Self::Kept(resource) => {
                render_at(resource.values.as_deref(), None, resource.sensitive_values.as_deref(), path)
            }
        }
    }

    /// [`Self::value_at`] with sensitive values in clear, as `show -json` prints them: unknown
    /// values are still marked.
    pub fn clear_value_at(&self, path: &[&str]) -> Value {
        match self {
            Self::Changed(change) if !change.action.removes() => {
                render_at(change.change.after.as_deref(), change.change.after_unknown.as_deref(), None, path)
            }
            Self::Changed(change) => render_at(change.change.before.as_deref(), None, None, path),
            Self::Kept(resource) => render_at(resource.values.as_deref(), None, None, path),
        }
    }

    /// The values as the plan writes them, for a search through their text.
    pub(crate) fn raw_values(&self) -> Option<&RawValue> {
        match self {
            Self::Changed(change) if change.action.removes() => change.change.before.as_deref(),
            Self::Changed(change) => change.change.after.as_deref(),
            Self::Kept(resource) => resource.values.as_deref(),
        }
    }
}

/// The `configuration` section, indexed by module, for the expressions behind values that the
/// plan cannot show (unknown until apply, or sensitive).
#[derive(Debug, Clone, Default)]
pub struct Configuration<'a> {
    /// By module path without instance keys: `""` for the root, `module.app` for a child.
    pub modules: HashMap<String, ModuleConfig<'a>>,
}

#[derive(Debug, Clone, Default)]
pub struct ModuleConfig<'a> {
    /// The `expressions` of each resource, by its address within the module.
    pub resources: HashMap<String, Raw<'a>>,
    /// The `expressions` of each module call (its input variables), by call name.
    pub calls: HashMap<String, Raw<'a>>,
    /// The `expression` of each output, by name.
    pub outputs: HashMap<String, Raw<'a>>,
}

/// A reference, followed from a module's input variable to what its caller passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// As written where the value is used, such as `var.redis_url`.
    pub written: String,
    /// What it resolves to in the callers, outermost last: empty when it is not a module input.
    pub resolved: Vec<String>,
}

impl Reference {
    /// Every name this reference stands for: itself, and whatever the callers passed in.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.written.as_str()).chain(self.resolved.iter().map(String::as_str))
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)?;
        if !self.resolved.is_empty() {
            write!(f, " (passed in as {})", self.resolved.join(", "))?;
        }
        Ok(())
    }
}

/// How far a module input is followed up through its callers.
const MAX_MODULE_DEPTH: usize = 32;

impl Configuration<'_> {
    /// The expression of one attribute of a resource, down `path` through nested blocks
    /// (`["private_network", "0", "id"]`) as far as the configuration records them: a block
    /// written as one expression answers for everything inside it.
    pub fn expression(&self, module: Option<&str>, address: &str, path: &[&str]) -> Option<&RawValue> {
        let module = module_path(module.unwrap_or_default());
        let mut expression: &RawValue = self.modules.get(&module)?.resources.get(&local_address(address))?;
        for key in path {
            if json::child(expression, "references").is_some() || json::child(expression, "constant_value").is_some() {
                break;
            }
            match json::child(expression, key) {
                Some(child) => expression = child,
                None => return None,
            }
        }
        Some(expression)
    }

    /// The expression a module call passes for one of its inputs.
    pub fn input(&self, module: &str, call: &str, variable: &str) -> Option<&RawValue> {
        json::child(self.modules.get(&module_path(module))?.calls.get(call)?, variable)
    }

    /// The expression of a module's output.
    pub fn output(&self, module: &str, name: &str) -> Option<&RawValue> {
        let expression = self.modules.get(&module_path(module))?.outputs.get(name)?;
        Some(json::child(expression, "expression").unwrap_or(expression))
    }

    /// The references of one attribute of a resource, with module inputs followed to their
    /// callers.
    pub fn references(&self, module: Option<&str>, address: &str, attribute: &str) -> Vec<Reference> {
        let module = module_path(module.unwrap_or_default());
        let local = local_address(address);
        let written = self
            .modules
            .get(&module)
            .and_then(|config| config.resources.get(&local))
            .map(|expressions| references_of(expressions, attribute))
            .unwrap_or_default();
        written
            .into_iter()
            .map(|written| {
                let resolved = self.follow_input(&module, &written);
                Reference { written, resolved }
            })
            .collect()
    }

    /// What the callers passed in for `var.NAME` in `module`, all the way up.
    fn follow_input(&self, module: &str, reference: &str) -> Vec<String> {
        let mut resolved = Vec::new();
        let mut pending = vec![(module.to_owned(), reference.to_owned(), 0)];
        while let Some((module, reference, depth)) = pending.pop() {
            let Some(variable) = reference.strip_prefix("var.") else { continue };
            let variable = variable.split(['.', '[']).next().unwrap_or_default();
            let Some((parent, call)) = module.rsplit_once("module.").map(|(p, c)| (p.trim_end_matches('.'), c)) else {
                continue;
            };
            if depth >= MAX_MODULE_DEPTH {
                continue;
            }
            let passed = self
                .modules
                .get(parent)
                .and_then(|config| config.calls.get(call))
                .map(|expressions| references_of(expressions, variable))
                .unwrap_or_default();
            for next in passed {
                resolved.push(next.clone());
                pending.push((parent.to_owned(), next, depth + 1));
            }
        }
        resolved
    }
}

/// `module.app[0].module.db["x"]` as `module.app.module.db`: configuration has no instances.
pub(crate) fn module_path(module: &str) -> String {
    let mut path = String::with_capacity(module.len());
    let mut depth = 0_usize;
    for c in module.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => path.push(c),
            _ => {}
        }
    }
    path
}

/// A resource's address within its module, without instance keys: `scaleway_container.backend`.
pub(crate) fn local_address(address: &str) -> String {
    let path = module_path(address);
    let parts: Vec<&str> = path.split('.').collect();
    // The last two parts are the type and the name (data sources have a third: `data`).
    parts[parts.len().saturating_sub(2)..].join(".")
}

/// The references an expression (`{"references": [...]}`) records, nested ones included.
pub fn references_in(expression: &RawValue) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![expression];
    while let Some(expression) = pending.pop() {
        if let Some(references) = json::child(expression, "references").and_then(json::items) {
            found.extend(
                references.into_iter().filter_map(|reference| serde_json::from_str::<String>(reference.get()).ok()),
            );
        } else if let Some(members) = json::members(expression) {
            pending.extend(members.into_values());
        } else if let Some(items) = json::items(expression) {
            pending.extend(items);
        }
    }
    found
}

/// The constant an expression records (`{"constant_value": ...}`), if it is one.
pub fn constant_in(expression: &RawValue) -> Option<Value> {
    json::child(expression, "constant_value").map(json::to_value)
}

fn references_of(expressions: &RawValue, attribute: &str) -> Vec<String> {
    json::child(expressions, attribute)
        .and_then(|expression| json::child(expression, "references"))
        .and_then(json::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|reference| serde_json::from_str::<String>(reference.get()).ok())
        .collect()
}

/// A parsed plan.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub format_version: String,
    pub terraform_version: Option<String>,
    pub errored: bool,
    pub applyable: Option<bool>,
    pub complete: Option<bool>,
    pub changes: Vec<ResourceChange<'a>>,
    pub state: Vec<StateResource<'a>>,
    pub state_source: StateSource,
    pub configuration: Configuration<'a>,
    /// The root module's variables, by name, as the plan was made with them.
    pub variables: BTreeMap<String, Value>,
}

impl<'a> Plan<'a> {
    pub fn parse(text: &'a str) -> Result<Self, PlanError> {
        let document: RawDocument<'a> = serde_json::from_str(text).map_err(|error| match error.classify() {
            serde_json::error::Category::Data => PlanError::Malformed(
                "the document is not a JSON object: is this `terraform show -json PLAN` output?".to_owned(),
            ),
            _ => PlanError::NotJson(error),
        })?;
        if document.lineage.is_some() && document.serial.is_some() {
            return Err(PlanError::NotAPlan(
                "this is a terraform.tfstate file, not a plan: save a plan with `terraform plan -out plan.bin` and give plancheck `terraform show -json plan.bin`"
                    .to_owned(),
            ));
        }
        let format_version = match document.format_version {
            Some(version) => string(version, "format_version")?,
            None => {
                return Err(PlanError::Malformed(
                    "no format_version: is this `terraform show -json PLAN` output?".to_owned(),
                ));
            }
        };
        if format_version.split('.').next() != Some("1") {
            return Err(PlanError::UnsupportedFormat(format_version));
        }
        if document.values.is_some()
            && document.resource_changes.is_none()
            && document.planned_values.is_none()
            && document.prior_state.is_none()
        {
            return Err(PlanError::NotAPlan(
                "this is a Terraform state, not a plan: `terraform show -json` prints the state when given no plan file; give it the saved plan (`terraform show -json plan.bin`)"
                    .to_owned(),
            ));
        }
        let changes = match document.resource_changes.filter(|raw| !json::is_null(raw)) {
            Some(raw) => parse_changes(raw)?,
            None => Vec::new(),
        };
        let planned = document
            .planned_values
            .filter(|raw| !json::is_null(raw))
            .map(|raw| root_module(raw, "planned_values"))
            .transpose()?;
        let prior = match document.prior_state.filter(|raw| !json::is_null(raw)) {
            Some(raw) => {
                let values = json::child(raw, "values").filter(|raw| !json::is_null(raw));
                values.map(|values| root_module(values, "prior_state.values")).transpose()?
            }
            None => None,
        };
        let (state, state_source) = match (planned, prior) {
            (Some(planned), _) if !planned.is_empty() => (planned, StateSource::PlannedValues),
            (_, Some(prior)) if changes.is_empty() => (prior, StateSource::PriorState),
            (Some(planned), _) => (planned, StateSource::PlannedValues),
            _ => (Vec::new(), StateSource::Changes),
        };
        Ok(Self {
            format_version,
            terraform_version: document.terraform_version.map(|raw| string(raw, "terraform_version")).transpose()?,
            errored: flag(document.errored, "errored")?.unwrap_or(false),
            applyable: flag(document.applyable, "applyable")?,
            complete: flag(document.complete, "complete")?,
            changes,
            state,
            state_source,
            configuration: document.configuration.map(configuration).transpose()?.unwrap_or_default(),
            variables: document.variables.map(variables).unwrap_or_default(),
        })
    }

    /// Changes of one resource type.
    pub(crate) fn of_type<'p>(&'p self, kind: &'p str) -> impl Iterator<Item = &'p ResourceChange<'a>> + 'p {
        self.changes.iter().filter(move |change| change.kind == kind)
    }

    /// Every resource the plan leaves behind: deleted and forgotten ones are not in it. A
    /// resource that `resource_changes` keeps but the end state leaves out is in it, read from
    /// its change, as Terraform would apply it (see [`Self::inconsistencies`]).
    pub fn end_state(&self) -> Vec<EndResource<'_, 'a>> {
        let by_address: HashMap<&str, &ResourceChange<'a>> =
            self.changes.iter().map(|change| (change.address.as_str(), change)).collect();
        if self.state_source == StateSource::Changes {
            return self.changes.iter().filter(|change| !change.action.removes()).map(EndResource::Changed).collect();
        }
        let mut end: Vec<EndResource<'_, 'a>> = self
            .state
            .iter()
            .filter_map(|resource| match by_address.get(resource.address.as_str()) {
                Some(change) if change.action.removes() => None,
                Some(change) => Some(EndResource::Changed(change)),
                None => Some(EndResource::Kept(resource)),
            })
            .collect();
        end.extend(self.left_out().map(EndResource::Changed));
        end
    }

    /// Changes that keep a resource the end state (`planned_values`) does not hold.
    fn left_out(&self) -> impl Iterator<Item = &ResourceChange<'a>> {
        let listed: std::collections::HashSet<&str> = if self.state_source == StateSource::PlannedValues {
            self.state.iter().map(|resource| resource.address.as_str()).collect()
        } else {
            std::collections::HashSet::new()
        };
        let judged = self.state_source == StateSource::PlannedValues;
        self.changes
            .iter()
            .filter(move |change| judged && !change.action.removes() && !listed.contains(change.address.as_str()))
    }

    /// What makes the plan inconsistent: resources its changes keep and its `planned_values`
    /// leave out, as hand-edited plans and generators that fill only `resource_changes` do.
    pub fn inconsistencies(&self) -> Vec<String> {
        self.left_out()
            .map(|change| {
                format!(
                    "the plan is inconsistent: {} is in resource_changes ({}) but not in planned_values; it is judged from its change's after, as Terraform would apply it",
                    change.address,
                    change.action.label()
                )
            })
            .collect()
    }

    /// True when any resource of the plan is Scaleway's.
    pub(crate) fn has_scaleway_resources(&self) -> bool {
        let scaleway = |kind: &str| kind.starts_with("scaleway_");
        self.changes.iter().any(|change| scaleway(&change.kind)) || self.state.iter().any(|r| scaleway(&r.kind))
    }
}

#[derive(Deserialize)]
struct RawDocument<'a> {
    #[serde(borrow)]
    format_version: Option<&'a RawValue>,
    #[serde(borrow)]
    terraform_version: Option<&'a RawValue>,
    #[serde(borrow)]
    resource_changes: Option<&'a RawValue>,
    #[serde(borrow)]
    planned_values: Option<&'a RawValue>,
    #[serde(borrow)]
    prior_state: Option<&'a RawValue>,
    #[serde(borrow)]
    configuration: Option<&'a RawValue>,
    #[serde(borrow)]
    variables: Option<&'a RawValue>,
    #[serde(borrow)]
    errored: Option<&'a RawValue>,
    #[serde(borrow)]
    applyable: Option<&'a RawValue>,
    #[serde(borrow)]
    complete: Option<&'a RawValue>,
    // What a state has and a plan has not.
    #[serde(borrow)]
    values: Option<&'a RawValue>,
    #[serde(borrow)]
    lineage: Option<&'a RawValue>,
    #[serde(borrow)]
    serial: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawChange<'a> {
    address: String,
    #[serde(default)]
    module_address: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    change: RawChangeValues<'a>,
}

#[derive(Deserialize)]
struct RawChangeValues<'a> {
    actions: Vec<String>,
    #[serde(borrow)]
    before: Option<&'a RawValue>,
    #[serde(borrow)]
    after: Option<&'a RawValue>,
    #[serde(borrow)]
    after_unknown: Option<&'a RawValue>,
    #[serde(borrow)]
    before_sensitive: Option<&'a RawValue>,
    #[serde(borrow)]
    after_sensitive: Option<&'a RawValue>,
    #[serde(default)]
    replace_paths: Vec<Vec<PathStep>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PathStep {
    Key(String),
    Index(u64),
}

#[derive(Deserialize)]
struct RawModule<'a> {
    #[serde(default)]
    address: Option<String>,
    #[serde(default, borrow)]
    resources: Vec<RawStateResource<'a>>,
    #[serde(default, borrow)]
    child_modules: Vec<RawModule<'a>>,
}

#[derive(Deserialize)]
struct RawStateResource<'a> {
    address: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    values: Option<&'a RawValue>,
    #[serde(borrow)]
    sensitive_values: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawConfigModule<'a> {
    #[serde(default, borrow)]
    resources: Vec<RawConfigResource<'a>>,
    #[serde(default, borrow)]
    module_calls: BTreeMap<String, RawModuleCall<'a>>,
    #[serde(default, borrow)]
    outputs: BTreeMap<String, &'a RawValue>,
}

#[derive(Deserialize)]
struct RawConfigResource<'a> {
    address: String,
    #[serde(borrow)]
    expressions: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawModuleCall<'a> {
    #[serde(borrow)]
    expressions: Option<&'a RawValue>,
    #[serde(borrow)]
    module: Option<RawConfigModule<'a>>,
}

/// Deserialises one section, naming the path to a field of the wrong type.
fn section<'a, T: Deserialize<'a>>(raw: &'a RawValue, name: &str) -> Result<T, PlanError> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let at = if path == "." {
            name.to_owned()
        } else {
            format!("{name}{}", path.strip_prefix('.').map_or(path.clone(), |p| format!(".{p}")))
        };
        PlanError::Malformed(format!("{at}: {}", error.into_inner()))
    })
}

fn expect(raw: &RawValue, name: &str, expected: &'static str) -> Result<(), PlanError> {
    let found = json::type_name(raw);
    if found == expected {
        Ok(())
    } else {
        Err(PlanError::Malformed(format!("{name} is {found}, expected {expected}")))
    }
}

fn string(raw: &RawValue, name: &str) -> Result<String, PlanError> {
    expect(raw, name, "a string")?;
    serde_json::from_str(raw.get()).map_err(|_| PlanError::Malformed(format!("{name} is not a readable string")))
}

fn flag(raw: Option<&RawValue>, name: &str) -> Result<Option<bool>, PlanError> {
    match raw.filter(|raw| !json::is_null(raw)) {
        None => Ok(None),
        Some(raw) => {
            expect(raw, name, "a boolean")?;
            Ok(Some(raw.get() == "true"))
        }
    }
}

fn parse_changes(raw: &RawValue) -> Result<Vec<ResourceChange<'_>>, PlanError> {
    expect(raw, "resource_changes", "an array")?;
    let changes: Vec<RawChange<'_>> = section(raw, "resource_changes")?;
    Ok(changes
        .into_iter()
        .filter(|change| change.mode.as_deref() != Some("data"))
        .map(|change| {
            let values = change.change;
            ResourceChange {
                address: change.address,
                module: change.module_address,
                kind: change.kind,
                action: Action::from_actions(&values.actions),
                actions: values.actions,
                replace_paths: values.replace_paths.iter().map(|path| path_label(path)).collect(),
                change: Change {
                    before: values.before.map(Cow::Borrowed),
                    after: values.after.map(Cow::Borrowed),
                    after_unknown: values.after_unknown.map(Cow::Borrowed),
                    before_sensitive: values.before_sensitive.map(Cow::Borrowed),
                    after_sensitive: values.after_sensitive.map(Cow::Borrowed),
                },
            }
        })
        .collect())
}

/// `["private_network", 0, "id"]` as `private_network[0].id`.
fn path_label(path: &[PathStep]) -> String {
    use std::fmt::Write as _;
    let mut label = String::new();
    for step in path {
        let _ = match step {
            PathStep::Index(index) => write!(label, "[{index}]"),
            PathStep::Key(key) if label.is_empty() => write!(label, "{key}"),
            PathStep::Key(key) => write!(label, ".{key}"),
        };
    }
    label
}

/// The resources of `{"root_module": …}`, child modules included.
fn root_module<'a>(raw: &'a RawValue, name: &str) -> Result<Vec<StateResource<'a>>, PlanError> {
    expect(raw, name, "an object")?;
    let Some(root) = json::child(raw, "root_module") else { return Ok(Vec::new()) };
    let module: RawModule<'a> = section(root, &format!("{name}.root_module"))?;
    let mut resources = Vec::new();
    let mut pending = vec![module];
    while let Some(module) = pending.pop() {
        for resource in module.resources.into_iter().filter(|resource| resource.mode.as_deref() != Some("data")) {
            resources.push(StateResource {
                address: resource.address,
                module: module.address.clone(),
                kind: resource.kind,
                values: resource.values.map(Cow::Borrowed),
                sensitive_values: resource.sensitive_values.map(Cow::Borrowed),
            });
        }
        pending.extend(module.child_modules);
    }
    Ok(resources)
}

fn configuration(raw: &RawValue) -> Result<Configuration<'_>, PlanError> {
    expect(raw, "configuration", "an object")?;
    let Some(root) = json::child(raw, "root_module") else { return Ok(Configuration::default()) };
    let root: RawConfigModule<'_> = section(root, "configuration.root_module")?;
    let mut modules = HashMap::new();
    let mut pending = vec![(String::new(), root)];
    while let Some((path, module)) = pending.pop() {
        let mut config = ModuleConfig::default();
        for resource in module.resources {
            if let Some(expressions) = resource.expressions {
                config.resources.insert(resource.address, Cow::Borrowed(expressions));
            }
        }
        for (name, output) in module.outputs {
            config.outputs.insert(name, Cow::Borrowed(output));
        }
        for (name, call) in module.module_calls {
            if let Some(expressions) = call.expressions {
                config.calls.insert(name.clone(), Cow::Borrowed(expressions));
            }
            if let Some(child) = call.module {
                let child_path =
                    if path.is_empty() { format!("module.{name}") } else { format!("{path}.module.{name}") };
                pending.push((child_path, child));
            }
        }
        modules.insert(path, config);
    }
    Ok(Configuration { modules })
}

/// `{"name": {"value": ...}}`: each variable's value.
fn variables(raw: &RawValue) -> BTreeMap<String, Value> {
    json::members(raw)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, variable)| Some((name, json::to_value(json::child(variable, "value")?))))
        .collect()
}

/// One attribute path of a value, rendered with Terraform's parallel `*_unknown` and
/// `*_sensitive` trees: unknown values read `(known after apply)`, sensitive ones `(sensitive)`.
fn render_at(
    value: Option<&RawValue>,
    unknown: Option<&RawValue>,
    sensitive: Option<&RawValue>,
    path: &[&str],
) -> Value {
    let (mut value, mut unknown, mut sensitive) = (value, unknown, sensitive);
    for key in path {
        if unknown.is_some_and(|raw| raw.get() == "true") {
            return Value::String(UNKNOWN.to_owned());
        }
        if sensitive.is_some_and(|raw| raw.get() == "true") {
            return Value::String(SENSITIVE.to_owned());
        }
        value = value.and_then(|raw| json::child(raw, key));
        unknown = unknown.and_then(|raw| json::child(raw, key));
        sensitive = sensitive.and_then(|raw| json::child(raw, key));
    }
    let read = |raw: Option<&RawValue>| raw.map_or(Value::Null, json::to_value);
    merge(&read(value), &read(unknown), &read(sensitive))
}

fn merge(value: &Value, unknown: &Value, sensitive: &Value) -> Value {
    if unknown == &Value::Bool(true) {
        return Value::String(UNKNOWN.to_owned());
    }
    if sensitive == &Value::Bool(true) {
        return Value::String(SENSITIVE.to_owned());
    }
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            if let Value::Object(unknown_fields) = unknown {
                keys.extend(unknown_fields.keys());
            }
            keys.sort();
            keys.dedup();
            let merged: Map<String, Value> = keys
                .into_iter()
                .map(|key| {
                    (key.clone(), merge(fields.get(key).unwrap_or(&Value::Null), &unknown[key], &sensitive[key]))
                })
                .filter(|(_, value)| !value.is_null())
                .collect();
            Value::Object(merged)
        }
        Value::Array(items) => {
            let length = items.len().max(unknown.as_array().map_or(0, Vec::len));
            Value::Array(
                (0..length)
                    .map(|index| merge(items.get(index).unwrap_or(&Value::Null), &unknown[index], &sensitive[index]))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(changes: &Value) -> String {
        json!({"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": changes}).to_string()
    }

    #[test]
    fn a_future_plan_format_is_refused_by_name() {
        let error = Plan::parse(r#"{"format_version": "2.0"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plan format_version \"2.0\" is not supported: this reads format 1.x (terraform show -json, tofu show -json)"
        );
    }

    #[test]
    fn something_else_than_a_plan_is_refused() {
        assert!(matches!(Plan::parse("{}"), Err(PlanError::Malformed(_))));
        assert!(matches!(Plan::parse("[]"), Err(PlanError::Malformed(_))));
        assert!(matches!(Plan::parse("resource \"x\" {}"), Err(PlanError::NotJson(_))));
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_with_its_path() {
        let text = plan(&json!([{"address": "a.b", "type": "a", "change": {"actions": "create"}}]));
        let error = Plan::parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("not a Terraform plan: resource_changes[0].change.actions: invalid type"), "{error}");
    }

    #[test]
    fn unknown_and_sensitive_values_are_marked() {
        let text = plan(&json!([{
            "address": "scaleway_redis_cluster.main", "mode": "managed", "type": "scaleway_redis_cluster", "name": "main",
            "change": {
                "actions": ["update"],
                "before": {}, "after": {"password": "hunter2", "private_network": [{"service_ips": ["172.16.0.10/22"]}], "acl": null},
                "after_unknown": {"private_ips": true, "private_network": [{"endpoint_id": true, "service_ips": [false]}]},
                "after_sensitive": {"password": true}
            }
        }]));
        let parsed = Plan::parse(&text).unwrap();
        let change = &parsed.changes[0];
        assert_eq!(
            change.values(),
            json!({
                "password": SENSITIVE,
                "private_ips": UNKNOWN,
                "private_network": [{"endpoint_id": UNKNOWN, "service_ips": ["172.16.0.10/22"]}],
            })
        );
        assert_eq!(change.value_at(&["private_network", "0", "endpoint_id"]), json!(UNKNOWN));
        assert_eq!(change.value_at(&["private_ips", "0"]), json!(UNKNOWN), "inside an unknown value");
        assert_eq!(change.value_at(&["password"]), json!(SENSITIVE));
        assert_eq!(change.value_at(&["acl"]), Value::Null);
    }

    #[test]
    fn every_action_terraform_prints_is_read() {
        for (actions, expected) in [
            (json!(["delete", "create"]), Action::Replace),
            (json!(["create", "delete"]), Action::Replace),
            (json!(["forget"]), Action::Forget),
            (json!(["create", "forget"]), Action::CreateForget),
            (json!(["archive"]), Action::Unknown),
        ] {
            let text = plan(
                &json!([{"address": "a.b", "type": "a", "mode": "managed", "change": {"actions": actions, "before": {}, "after": {}}}]),
            );
            assert_eq!(Plan::parse(&text).unwrap().changes[0].action, expected, "{actions}");
        }
    }

    #[test]
    fn module_inputs_are_followed_to_their_callers() {
        let text = json!({
            "format_version": "1.2",
            "configuration": {"root_module": {
                "module_calls": {"app": {
                    "expressions": {"url": {"references": ["module.net.redis_url", "module.net"]}},
                    "module": {
                        "resources": [{"address": "scaleway_container.backend", "expressions": {"environment_variables": {"references": ["var.url"]}}}],
                        "module_calls": {}
                    }
                }}
            }}
        })
        .to_string();
        let parsed = Plan::parse(&text).unwrap();
        let references = parsed.configuration.references(
            Some("module.app[0]"),
            "module.app[0].scaleway_container.backend[\"x\"]",
            "environment_variables",
        );
        assert_eq!(
            references,
            [Reference {
                written: "var.url".to_owned(),
                resolved: vec!["module.net.redis_url".to_owned(), "module.net".to_owned()]
            }]
        );
    }
}

//! SARIF 2.1.0, as GitHub code scanning reads it: one rule per policy, one result per violation,
//! located on the resource's block when the sources are known, else on the plan file.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Report, SourceIndex};
use crate::policy::POLICIES;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Rules only the static check of `infra/*.tf` reports, besides the plan policies.
const STATIC_RULES: [(&str, &str); 1] = [(
    "provider-schema",
    "the configuration follows the Scaleway provider's schema (acl and private_network exclude each other)",
)];

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    semantic_version: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Message,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: [SarifLocation<'a>; 1],
    /// A path from the internet to Redis, hop by hop, as SARIF shows a flow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    code_flows: Vec<CodeFlow>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeFlow {
    message: Message,
    thread_flows: [ThreadFlow; 1],
}

#[derive(Serialize)]
struct ThreadFlow {
    locations: Vec<ThreadFlowLocation>,
}

#[derive(Serialize)]
struct ThreadFlowLocation {
    location: HopLocation,
}

#[derive(Serialize)]
struct HopLocation {
    message: Message,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation<'a> {
    physical_location: PhysicalLocation,
    logical_locations: [LogicalLocation<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    fully_qualified_name: &'a str,
    kind: &'static str,
}

fn message(violation: &crate::Violation) -> String {
    let mut text = format!("{} ({}): {}", violation.address, violation.attribute, violation.reason);
    if !violation.path.is_empty() {
        let _ = write!(text, " Path: {}.", violation.path.join(" → "));
    }
    text
}

fn flows(violation: &crate::Violation) -> Vec<CodeFlow> {
    if violation.path.is_empty() {
        return Vec::new();
    }
    let locations = violation
        .path
        .iter()
        .map(|hop| ThreadFlowLocation { location: HopLocation { message: Message { text: hop.clone() } } })
        .collect();
    vec![CodeFlow {
        message: Message { text: "from the internet to Redis".to_owned() },
        thread_flows: [ThreadFlow { locations }],
    }]
}

pub fn sarif(report: &Report, sources: &SourceIndex) -> String {
    let rules: Vec<(&str, &str)> = POLICIES.iter().chain(STATIC_RULES.iter()).copied().collect();
    let results = report
        .violations
        .iter()
        .map(|violation| {
            let location = sources.find(&violation.address);
            SarifResult {
                rule_id: violation.policy,
                rule_index: rules.iter().position(|(id, _)| *id == violation.policy).unwrap_or_default(),
                level: "error",
                message: Message { text: message(violation) },
                locations: [SarifLocation {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation {
                            uri: location.map_or_else(|| report.plan.replace('\\', "/"), |l| l.file.clone()),
                        },
                        region: Region { start_line: location.map_or(1, |l| l.line) },
                    },
                    logical_locations: [LogicalLocation { fully_qualified_name: &violation.address, kind: "resource" }],
                }],
                code_flows: flows(violation),
            }
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "plancheck",
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules: rules
                        .iter()
                        .map(|(id, description)| Rule {
                            id,
                            short_description: Message { text: (*description).to_owned() },
                            default_configuration: Configuration { level: "error" },
                        })
                        .collect(),
                },
            },
            results,
        }],
    };
    serde_json::to_string_pretty(&log).expect("a SARIF log serialises")
}

//! `gradfuzz gates`: the table of gates, for people and for programs in other languages.

use super::args::{Format, GatesArgs};
use gradfuzz::op::{GateKind, LeafKind};
use serde_json::json;
use std::process::ExitCode;

pub fn run(args: GatesArgs) -> Result<ExitCode, String> {
    match args.format {
        Format::Text => {
            for kind in GateKind::ALL {
                let facts = kind.facts();
                let lecture = if facts.lecture { "  (SPEC §1)" } else { "" };
                outln!(
                    "{:<9} {:<7} {}{lecture}",
                    facts.name,
                    facts.family.name(),
                    facts.syntax
                );
                outln!("          value:    {}", facts.value);
                outln!("          backward: {}", facts.backward);
            }
        }
        Format::Json => {
            let gates: Vec<serde_json::Value> = GateKind::ALL
                .into_iter()
                .map(|kind| {
                    let facts = kind.facts();
                    json!({
                        "name": facts.name,
                        "family": facts.family.name(),
                        "arity": kind.arity(),
                        "roles": facts.roles,
                        "syntax": facts.syntax,
                        "value": facts.value,
                        "backward": facts.backward,
                        "loss": kind.is_loss(),
                        "lecture": facts.lecture,
                    })
                })
                .collect();
            let leaves: Vec<&str> = LeafKind::ALL.iter().map(|k| k.name()).collect();
            outln!("{:#}", json!({ "leaves": leaves, "gates": gates }));
        }
    }
    Ok(ExitCode::SUCCESS)
}

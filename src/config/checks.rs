//! The `[[health_check]]` tables, through the rules the API shares
//! (`input`), each target judged by `health::targets`.

use std::collections::HashMap;

use super::cx::Cx;
use super::raw::RawHealthCheck;
use crate::health::targets::TargetPolicy;
use crate::model::HealthCheckSpec;

impl Cx<'_> {
    pub(super) fn health_checks(
        &mut self,
        raws: Vec<RawHealthCheck>,
        targets: &TargetPolicy,
    ) -> Vec<HealthCheckSpec> {
        // Children may be declared after their parent: know every kind first.
        let kinds: HashMap<String, bool> = raws
            .iter()
            .map(|r| (r.id.get_ref().clone(), r.kind.get_ref() == "calculated"))
            .collect();
        let mut out: Vec<HealthCheckSpec> = Vec::new();
        for raw in raws {
            let (input, spans) = raw.split();
            if out.iter().any(|c| c.id == input.id) {
                let span = spans.field("id");
                self.error(
                    span,
                    format!("health check {:?} is declared twice", input.id),
                );
                continue;
            }
            match input.to_spec(&|id| kinds.get(id).copied()) {
                Ok(spec) => {
                    if let Err(e) = crate::input::check_target(&spec, targets) {
                        self.report(&spans, vec![e]);
                    }
                    // Kept even when refused: the file fails anyway, and
                    // records using it should not add "unknown check".
                    out.push(spec);
                }
                Err(errors) => self.report(&spans, errors),
            }
        }
        out
    }
}

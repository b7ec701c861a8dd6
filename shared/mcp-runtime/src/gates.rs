//! Gates a call must pass before it runs. Destructive tools need a confirmation; until a
//! confirmation gate is installed (the trust layer provides it), destructive calls are
//! refused: the safe default is "no", never "yes".

use crate::identity::Actor;
use crate::policy::ToolKind;

/// What a gate decided about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    Proceed,
    /// The call does not run; the text says why and what to do.
    Refuse(String),
}

/// The gates of a server.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    confirmation_gate_installed: bool,
}

impl Gates {
    /// Decides whether a call of `tool` (of `kind`) by `actor` may run now.
    pub fn check(&self, tool: &str, kind: ToolKind, _actor: &Actor) -> GateDecision {
        if kind == ToolKind::Destructive && !self.confirmation_gate_installed {
            return GateDecision::Refuse(format!(
                "{tool} is destructive and this server has no confirmation gate installed, so it will not run; nothing was changed"
            ));
        }
        GateDecision::Proceed
    }
}

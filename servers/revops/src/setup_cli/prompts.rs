//! The wizard's questions, on the terminal through `dialoguer` (drawn on stderr, so stdout
//! keeps only the final summary). Esc (or `q`) on a choice stops the set-up before anything
//! is written; secrets are read with echo off and never shown back.

use dialoguer::{Confirm, Input, MultiSelect, Password, Select};
use vault::SecretString;
use vault::zeroize::Zeroizing;

/// The person stopped the set-up (Esc on a choice): nothing was written.
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the set-up was stopped; nothing was written")
    }
}

impl std::error::Error for Cancelled {}

fn io(error: dialoguer::Error) -> anyhow::Error {
    anyhow::anyhow!("the terminal failed: {error}")
}

/// Says something to the person (stderr).
pub fn say(text: &str) {
    eprintln!("{text}");
}

/// One item of a list: a short label (what is echoed back once chosen) and a line saying
/// what it means.
pub struct Choice {
    pub label: String,
    pub detail: String,
}

impl Choice {
    pub fn new(label: impl Into<String>, detail: impl Into<String>) -> Choice {
        Choice {
            label: label.into(),
            detail: detail.into(),
        }
    }
}

/// The items as shown: labels in a column, details beside them.
fn lines(choices: &[Choice]) -> Vec<String> {
    let width = choices
        .iter()
        .map(|c| c.label.chars().count())
        .max()
        .unwrap_or(0);
    choices
        .iter()
        .map(|c| match c.detail.is_empty() {
            true => c.label.clone(),
            false => format!("{:<width$}  {}", c.label, c.detail),
        })
        .collect()
}

/// One of `choices`; Esc stops the set-up.
pub fn select(prompt: &str, choices: &[Choice], default: usize) -> anyhow::Result<usize> {
    let chosen = Select::new()
        .with_prompt(prompt)
        .items(lines(choices))
        .default(default.min(choices.len().saturating_sub(1)))
        .report(false)
        .interact_opt()
        .map_err(io)?
        .ok_or(Cancelled)?;
    say(&format!("{prompt}: {}", choices[chosen].label));
    Ok(chosen)
}

/// Some of `choices` (space ticks, Enter accepts); Esc stops the set-up.
pub fn multi_select(
    prompt: &str,
    choices: &[Choice],
    ticked: &[bool],
) -> anyhow::Result<Vec<usize>> {
    let chosen = MultiSelect::new()
        .with_prompt(prompt)
        .items(lines(choices))
        .defaults(ticked)
        .report(false)
        .interact_opt()
        .map_err(io)?
        .ok_or(Cancelled)?;
    let labels: Vec<&str> = chosen.iter().map(|i| choices[*i].label.as_str()).collect();
    say(&format!(
        "{prompt}: {}",
        if labels.is_empty() {
            "none".to_string()
        } else {
            labels.join(", ")
        }
    ));
    Ok(chosen)
}

/// A line of text, `default` on Enter, re-asked until `check` accepts it. With `show` off
/// the default and the answer are not echoed back (a URL that may hold a password).
pub fn input(
    prompt: &str,
    default: Option<String>,
    show: bool,
    check: impl Fn(&str) -> Result<(), String>,
) -> anyhow::Result<String> {
    let mut question = Input::<String>::new()
        .with_prompt(prompt)
        .show_default(show)
        .report(show)
        .validate_with(move |text: &String| check(text.trim()));
    if let Some(default) = default {
        question = question.default(default);
    }
    Ok(question.interact_text().map_err(io)?.trim().to_string())
}

/// Yes or no, `default` on Enter; Esc stops the set-up.
pub fn confirm(prompt: &str, default: bool) -> anyhow::Result<bool> {
    Confirm::new()
        .with_prompt(prompt)
        .default(default)
        .interact_opt()
        .map_err(io)?
        .ok_or_else(|| Cancelled.into())
}

/// A secret typed with echo off; `None` when `optional` and left empty.
pub fn secret(prompt: &str, optional: bool) -> anyhow::Result<Option<SecretString>> {
    let typed = Zeroizing::new(
        Password::new()
            .with_prompt(prompt)
            .allow_empty_password(optional)
            .interact()
            .map_err(io)?,
    );
    let trimmed = typed.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    Ok(Some(SecretString::from(trimmed)))
}

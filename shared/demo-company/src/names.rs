//! Names, domains, emails and phone numbers for companies and people.
//!
//! Company names come from the definition's word pools through a fixed permutation of the
//! company number, so they do not repeat until the pools are exhausted, and then carry a
//! suffix; the domain is the name's slug, so domains (and the emails built on them) are
//! unique at any scale. Every domain is under the reserved `.example` top-level domain and
//! every phone number uses the 555-01xx fictional range, so no demo record reaches anyone.

use crate::definition::CompanyDefinition;
use crate::dice::Dice;

/// A company's name and domain.
#[derive(Debug, Clone)]
pub(crate) struct CompanyName {
    pub(crate) name: String,
    pub(crate) domain: String,
}

/// Suffixes for the second and later passes through the name pools.
const EXTRA_PASS_SUFFIXES: [&str; 6] = [
    "International",
    "Europe",
    "Americas",
    "Pacific",
    "Holdings",
    "Worldwide",
];

/// The name of company number `number` (0-based; base accounts first, then leads).
pub(crate) fn company_name(definition: &CompanyDefinition, seed: u64, number: u64) -> CompanyName {
    let roots = definition.company_roots.len() as u64;
    let kinds = definition.company_kinds.len() as u64;
    let combinations = (roots * kinds).max(1);
    let step = coprime_step(combinations);
    let slot = (number % combinations)
        .wrapping_mul(step)
        .wrapping_add(seed)
        % combinations;
    let pass = number / combinations;
    let root = &definition.company_roots[(slot / kinds) as usize];
    let kind = &definition.company_kinds[(slot % kinds) as usize];
    let name = match pass {
        0 => format!("{root} {kind}"),
        p if p as usize <= EXTRA_PASS_SUFFIXES.len() => {
            format!("{root} {kind} {}", EXTRA_PASS_SUFFIXES[p as usize - 1])
        }
        p => format!("{root} {kind} {}", p - EXTRA_PASS_SUFFIXES.len() as u64 + 1),
    };
    let domain = format!("{}.example", slug(&name, '-'));
    CompanyName { name, domain }
}

/// A step that visits every slot of `0..n` once (odd and coprime with `n`), near the golden
/// ratio of `n` so neighbouring companies get unrelated names.
fn coprime_step(n: u64) -> u64 {
    let mut step = (n as f64 * 0.618_033_988_75) as u64 | 1;
    while gcd(step, n) != 1 {
        step += 2;
    }
    step
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Lowercase ASCII letters and digits of `text`, accents folded, words joined by
/// `separator` (or run together when `separator` is `'\0'`).
pub(crate) fn slug(text: &str, separator: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_separator = false;
    for ch in text.chars().flat_map(char::to_lowercase) {
        let folded = match ch {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        };
        if folded.is_ascii_alphanumeric() {
            if pending_separator && !out.is_empty() && separator != '\0' {
                out.push(separator);
            }
            pending_separator = false;
            out.push(folded);
        } else if folded.is_whitespace() || folded == '-' || folded == '&' {
            pending_separator = true;
        }
        // Apostrophes and other marks vanish: "O'Brien" -> "obrien".
    }
    out
}

/// A person's name.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) first_name: String,
    pub(crate) last_name: String,
}

impl Person {
    pub(crate) fn random(definition: &CompanyDefinition, dice: &mut Dice) -> Person {
        Person {
            first_name: dice.pick(&definition.first_names).clone(),
            last_name: dice.pick(&definition.last_names).clone(),
        }
    }

    /// `first.last@domain`, with `ordinal` appended to the local part when it is not 0
    /// (to keep two namesakes at one company apart).
    pub(crate) fn email(&self, domain: &str, ordinal: u32) -> String {
        let local = format!(
            "{}.{}",
            slug(&self.first_name, '\0'),
            slug(&self.last_name, '\0')
        );
        if ordinal == 0 {
            format!("{local}@{domain}")
        } else {
            format!("{local}{ordinal}@{domain}")
        }
    }
}

/// A fictional phone number in the country's format family: `+CC 555 01xx`.
pub(crate) fn phone(calling_code: &str, dice: &mut Dice) -> String {
    format!("{calling_code} 555 01{:02}", dice.below(100))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn company_names_and_domains_do_not_repeat_across_many_passes() {
        let definition = crate::definition::definition().unwrap();
        let combinations = (definition.company_roots.len() * definition.company_kinds.len()) as u64;
        let mut names = HashSet::new();
        let mut domains = HashSet::new();
        for number in 0..combinations * 9 {
            let company = company_name(definition, 42, number);
            assert!(
                names.insert(company.name.clone()),
                "repeated name {}",
                company.name
            );
            assert!(
                domains.insert(company.domain.clone()),
                "repeated domain {}",
                company.domain
            );
        }
    }

    #[test]
    fn slugs_fold_accents_and_drop_marks() {
        assert_eq!(slug("Müller", '\0'), "muller");
        assert_eq!(slug("O'Brien", '\0'), "obrien");
        assert_eq!(slug("de Vries", '\0'), "devries");
        assert_eq!(slug("Hollow Creek Labs 7", '-'), "hollow-creek-labs-7");
    }
}

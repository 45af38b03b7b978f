//! Model prices, for the budget reservation of a request and for the charge of a response
//! that reports no `usage.cost`. Prices configured under `[prices]` win; the rest are
//! learned from the upstream's `GET /models` catalog (per-token USD strings), refreshed in
//! the background (`state::pollers`) while any key has a budget, and kept across config reloads.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use super::budget::Price;

/// Prices by normalised model id.
pub type PriceTable = HashMap<String, Price>;

/// Prices learned from the catalog (outlive reloads).
#[derive(Default)]
pub struct Learned {
    table: ArcSwap<PriceTable>,
}

impl Learned {
    pub fn replace(&self, table: PriceTable) {
        self.table.store(Arc::new(table));
    }

    pub fn len(&self) -> usize {
        self.table.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The price of `model` (normalised id): configured, else learned; a variant (`:nitro`)
/// without an entry of its own takes its base model's price.
pub fn lookup(configured: &PriceTable, learned: &Learned, model: &str) -> Option<Price> {
    let learned = learned.table.load();
    let find = |id: &str| configured.get(id).or_else(|| learned.get(id)).copied();
    find(model).or_else(|| model.split_once(':').and_then(|(base, _)| find(base)))
}

/// Reads the catalog's `data[].{id, pricing{prompt, completion, request}}`. Entries with
/// unreadable prices are skipped (never taken as free).
pub fn parse_catalog(v: &Value) -> PriceTable {
    let mut out = PriceTable::new();
    let Some(data) = v.get("data").and_then(Value::as_array) else {
        return out;
    };
    for m in data {
        let Some(id) = m.get("id").and_then(Value::as_str) else {
            continue;
        };
        let pricing = m.get("pricing");
        // `prompt` and `completion` must be there: a model without them is of unknown
        // price, never free. `request` is often left out and then costs nothing.
        let field = |name: &str, missing: Option<f64>| -> Option<f64> {
            match pricing.and_then(|p| p.get(name)) {
                None | Some(Value::Null) => missing,
                Some(Value::String(s)) => s.trim().parse().ok(),
                Some(Value::Number(n)) => n.as_f64(),
                Some(_) => None,
            }
        };
        let (p, c, r) = (
            field("prompt", None),
            field("completion", None),
            field("request", Some(0.0)),
        );
        if let (Some(p), Some(c), Some(r)) = (p, c, r) {
            if p >= 0.0 && c >= 0.0 && r >= 0.0 {
                out.insert(
                    id.trim().to_ascii_lowercase(),
                    Price::from_usd_per_token(p, c, r),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn catalog_prices_are_per_token_strings() {
        let v = json!({"data": [
            {"id": "anthropic/claude-3.5-sonnet", "pricing": {"prompt": "0.000003", "completion": "0.000015"}},
            {"id": "Meta/Free:free", "pricing": {"prompt": "0", "completion": "0", "request": "0"}},
            {"id": "broken/model", "pricing": {"prompt": "lots", "completion": "0.1"}},
            {"id": "negative/model", "pricing": {"prompt": "-1", "completion": "0"}},
            {"id": "unpriced/model"},
            {"id": "half/priced", "pricing": {"prompt": "0.000001"}},
            {"pricing": {"prompt": "1"}}
        ]});
        let t = parse_catalog(&v);
        assert_eq!(t.len(), 2);
        let p = t["anthropic/claude-3.5-sonnet"];
        assert!((p.prompt - 3000.0).abs() < 1e-6 && (p.completion - 15000.0).abs() < 1e-6);
        assert_eq!(t["meta/free:free"], Price::default());
    }

    #[test]
    fn configured_prices_win_and_variants_fall_back_to_their_base() {
        let learned = Learned::default();
        let mut l = PriceTable::new();
        l.insert(
            "openai/gpt-4o".into(),
            Price::from_usd_per_token(1e-6, 1e-6, 0.0),
        );
        learned.replace(l);
        let mut configured = PriceTable::new();
        configured.insert("x/y".into(), Price::from_usd_per_token(2e-6, 2e-6, 0.0));
        assert!(lookup(&configured, &learned, "x/y").is_some());
        let base = lookup(&configured, &learned, "openai/gpt-4o").unwrap();
        assert_eq!(
            lookup(&configured, &learned, "openai/gpt-4o:nitro"),
            Some(base)
        );
        assert_eq!(lookup(&configured, &learned, "unknown/model"), None);
    }
}

//! A note's front matter as a properties table: each key with its value as text, lists as
//! lists. Values are plain text for the template (which escapes them); nothing in front
//! matter is ever HTML.

use serde_json::Value;

/// One property of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub key: String,
    /// One entry: a scalar; several: a list.
    pub values: Vec<String>,
    pub is_list: bool,
}

/// The properties of a front matter block, or why it cannot be read (the page then shows the
/// block as it is).
pub fn properties(yaml: &str) -> Result<Vec<Prop>, String> {
    if yaml.trim().is_empty() {
        return Ok(Vec::new());
    }
    let map: Ordered = serde_saphyr::from_str(yaml).map_err(|e| {
        let message = e.to_string();
        message.lines().next().unwrap_or("unreadable").to_owned()
    })?;
    Ok(map
        .0
        .into_iter()
        .map(|(key, value)| match value {
            Value::Array(items) => Prop {
                key,
                values: items.iter().map(scalar).collect(),
                is_list: true,
            },
            other => Prop {
                key,
                values: vec![scalar(&other)],
                is_list: false,
            },
        })
        .collect())
}

/// The top-level mapping in the order the note writes it.
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`key: value` lines")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Value, Value>()? {
                    let key = match k {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    out.push((key, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A value as text: strings as they are, anything nested as compact JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(key: &str, values: &[&str], is_list: bool) -> Prop {
        Prop {
            key: key.to_string(),
            values: values.iter().map(|s| s.to_string()).collect(),
            is_list,
        }
    }

    #[test]
    fn front_matter_as_properties() {
        let got = properties(
            "tags: [plan, work]\nstatus: active\ncount: 3\ndone: false\nempty:\nnested: {a: 1}\nevil: \"<script>alert(1)</script>\"\n",
        )
        .unwrap();
        let want = vec![
            prop("tags", &["plan", "work"], true),
            prop("status", &["active"], false),
            prop("count", &["3"], false),
            prop("done", &["false"], false),
            prop("empty", &[""], false),
            prop("nested", &["{\"a\":1}"], false),
            prop("evil", &["<script>alert(1)</script>"], false),
        ];
        assert_eq!(got, want);
        assert_eq!(properties("  \n"), Ok(vec![]));
        assert!(properties("- a\n- b\n").is_err());
        assert!(properties("a: [1, 2\n").is_err());
    }
}

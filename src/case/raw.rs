//! The file's shape, as serde sees it: everything serde can check (keys, types, duplicate
//! keys), with the location of each node for messages; the rest is [`super::validate`]'s.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) engine: Option<String>,
    pub(super) expect: Option<Spanned<String>>,
    pub(super) tolerance: Option<Spanned<RawTolerance>>,
    pub(super) precision: Option<Spanned<String>>,
    pub(super) nodes: Ordered<Spanned<RawOp>>,
    pub(super) gradients: Option<Ordered<Spanned<RawArray>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTolerance {
    pub(super) rtol: Option<f64>,
    pub(super) atol: Option<f64>,
}

/// A node: exactly one op key, a leaf kind with its numbers or a gate with its operands.
pub(super) struct RawOp {
    /// The op as written (`input`, `matvec`, …), checked against the table by the validator.
    pub(super) op: String,
    pub(super) body: RawBody,
}

/// What an op key holds.
pub(super) enum RawBody {
    /// A leaf's numbers.
    Numbers(RawArray),
    /// A gate's operands: one name for a gate of one operand (`sigmoid: s`), else a list
    /// (`add: [a, b]`), read as strings whatever they look like (`y` is a node name here,
    /// not YAML 1.1's boolean).
    Operands(Vec<String>),
}

impl<'de> Deserialize<'de> for RawOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OpVisitor;
        impl<'de> Visitor<'de> for OpVisitor {
            type Value = RawOp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("one op and its arguments, as `{input: [1.0, 2.0]}` or `{add: [a, b]}`")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawOp, E> {
                Err(E::custom(format!("no op: {}", ops_known())))
            }
            fn visit_none<E: de::Error>(self) -> Result<RawOp, E> {
                self.visit_unit()
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawOp, A::Error> {
                let Some(op) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(format!("no op: {}", ops_known())));
                };
                let body = if crate::op::LeafKind::by_name(&op).is_some() {
                    RawBody::Numbers(map.next_value::<RawArray>()?)
                } else if let Some(gate) = crate::op::GateKind::by_name(&op) {
                    // One operand is written bare (`sigmoid: s`), several as a list.
                    RawBody::Operands(match gate.arity() {
                        1 => vec![map.next_value::<String>()?],
                        _ => map.next_value::<Vec<String>>()?,
                    })
                } else {
                    return Err(de::Error::custom(format!(
                        "unknown op `{op}`, expected one of {}",
                        op_names().join(", ")
                    )));
                };
                if let Some(second) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "two ops, `{op}` and `{second}`: a node has exactly one"
                    )));
                }
                Ok(RawOp { op, body })
            }
        }
        deserializer.deserialize_map(OpVisitor)
    }
}

/// Every op a node may have: the leaf kinds, then the gates.
fn op_names() -> Vec<&'static str> {
    let leaves = crate::op::LeafKind::ALL.map(|kind| kind.name());
    let gates = crate::op::GateKind::ALL.map(|kind| kind.name());
    leaves.into_iter().chain(gates).collect()
}

fn ops_known() -> String {
    format!(
        "a node is `{{OP: ARGUMENTS}}`, OP one of {}",
        op_names().join(", ")
    )
}

/// A leaf's numbers or a claimed gradient: a list of numbers or a list of rows.
pub(super) enum RawArray {
    Vector(Vec<f64>),
    Matrix(Vec<Vec<f64>>),
}

const ARRAY_EXPECTED: &str = "a list of numbers (a vector) or a list of rows of numbers (a matrix)";

/// Read in one pass, the first item deciding which of the two it is. (An untagged enum would
/// buffer every number as a generic value first, then read the buffer again: about a quarter
/// of the time of loading a big case.)
impl<'de> Deserialize<'de> for RawArray {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArrayVisitor;
        impl<'de> Visitor<'de> for ArrayVisitor {
            type Value = RawArray;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(ARRAY_EXPECTED)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawArray, A::Error> {
                let capacity = seq.size_hint().unwrap_or(0).min(1 << 16);
                match seq.next_element::<Item>()? {
                    None => Ok(RawArray::Vector(Vec::new())),
                    Some(Item::Number(first)) => {
                        let mut numbers = Vec::with_capacity(capacity.max(1));
                        numbers.push(first);
                        while let Some(x) = seq.next_element::<Item>()? {
                            match x {
                                Item::Number(x) => numbers.push(x),
                                Item::Row(_) => return Err(mixed()),
                            }
                        }
                        Ok(RawArray::Vector(numbers))
                    }
                    Some(Item::Row(first)) => {
                        let mut rows = Vec::with_capacity(capacity.max(1));
                        rows.push(first);
                        while let Some(row) = seq.next_element::<Item>()? {
                            match row {
                                Item::Row(row) => rows.push(row),
                                Item::Number(_) => return Err(mixed()),
                            }
                        }
                        Ok(RawArray::Matrix(rows))
                    }
                }
            }
        }
        fn mixed<E: de::Error>() -> E {
            E::custom(format!(
                "numbers and rows in one list: expected {ARRAY_EXPECTED}"
            ))
        }
        deserializer.deserialize_seq(ArrayVisitor)
    }
}

/// One item of a [`RawArray`]: a number, or a row of numbers.
enum Item {
    Number(f64),
    Row(Vec<f64>),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or a row of numbers")
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Item, E> {
                Ok(Item::Number(x))
            }
            fn visit_i64<E: de::Error>(self, x: i64) -> Result<Item, E> {
                Ok(Item::Number(x as f64))
            }
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Item, E> {
                Ok(Item::Number(x as f64))
            }
            fn visit_i128<E: de::Error>(self, x: i128) -> Result<Item, E> {
                Ok(Item::Number(x as f64))
            }
            fn visit_u128<E: de::Error>(self, x: u128) -> Result<Item, E> {
                Ok(Item::Number(x as f64))
            }
            // JSON's only way to write a non-finite number (`super::json`).
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Item, E> {
                super::json::non_finite(text).map(Item::Number).ok_or_else(|| {
                    E::custom(format!(
                        "the string {text:?} is not a number (a non-finite claim is written .nan, \
                         .inf or -.inf in YAML, \"NaN\", \"Infinity\" or \"-Infinity\" in JSON)"
                    ))
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                let mut row = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                // Each entry read as the first item was, so that a row takes exactly what a
                // vector takes.
                while let Some(item) = seq.next_element::<Item>()? {
                    match item {
                        Item::Number(x) => row.push(x),
                        Item::Row(_) => {
                            return Err(de::Error::custom(
                                "a row within a row: a matrix is a list of rows of numbers",
                            ));
                        }
                    }
                }
                Ok(Item::Row(row))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// A mapping kept in file order, each key with the line it is on.
pub(super) struct Ordered<T>(pub(super) Vec<(Spanned<String>, T)>);

/// What the keys of an [`Ordered`] mapping are, for messages.
trait KeyRole {
    fn describe(key: &str) -> String;
}

impl KeyRole for Spanned<RawOp> {
    fn describe(key: &str) -> String {
        format!("node `{key}`")
    }
}

impl KeyRole for Spanned<RawArray> {
    fn describe(key: &str) -> String {
        format!("key `gradients.{key}`")
    }
}

impl<'de, T: Deserialize<'de> + KeyRole> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + KeyRole> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping from node ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries = Vec::new();
                // YAML's parser refuses a key given twice; JSON's does not.
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if !seen.insert(key.value.clone()) {
                        return Err(de::Error::custom(format_args!(
                            "{} is given twice",
                            T::describe(&key.value)
                        )));
                    }
                    let value = map.next_value::<T>().map_err(|e| {
                        de::Error::custom(format_args!("{}: {e}", T::describe(&key.value)))
                    })?;
                    entries.push((key, value));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

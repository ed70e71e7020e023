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

/// A claimed gradient: a list of numbers or a list of rows.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a list of numbers (a vector) or a list of rows of numbers (a matrix)"
)]
pub(super) enum RawArray {
    Vector(Vec<f64>),
    Matrix(Vec<Vec<f64>>),
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
                while let Some(key) = map.next_key::<Spanned<String>>()? {
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

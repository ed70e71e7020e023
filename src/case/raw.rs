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

/// A node: exactly one op key.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum RawOp {
    Input(Vec<f64>),
    Weight(Vec<Vec<f64>>),
    Target(Vec<f64>),
    Add(Vec<String>),
    Matvec(Vec<String>),
    Sigmoid(String),
    Sqerr(Vec<String>),
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

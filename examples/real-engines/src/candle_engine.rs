//! candle-core 0.11.1 (with candle-nn's sigmoid) as a gradfuzz engine: the graph built as
//! candle tensors node by node, the loss's `backward()`, the leaves' gradients read back.

use candle_core::{DType, Device, Tensor, Var};
use gradfuzz::op::{GateKind, GateSet, Operation, Unary};
use gradfuzz::{Engine, EngineError, Gate, Gradients, Graph, Op, Precision, Shape};

/// candle on the CPU, computing in `f64` or `f32`.
pub struct Candle {
    pub precision: Precision,
}

fn candle(error: candle_core::Error) -> EngineError {
    EngineError::failed(format!("candle: {error}"))
}

impl Candle {
    fn dtype(&self) -> DType {
        match self.precision {
            Precision::F32 => DType::F32,
            _ => DType::F64,
        }
    }
}

impl Engine for Candle {
    fn name(&self) -> String {
        format!("candle-{}", self.precision)
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    /// The four gates and candle's own `relu`, on vectors.
    fn gates(&self) -> GateSet {
        GateSet::LECTURE.or(GateSet::of([GateKind::Relu], false))
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        let device = Device::Cpu;
        let mut tensors: Vec<Tensor> = Vec::with_capacity(graph.len());
        let mut leaves: Vec<(gradfuzz::NodeId, Var)> = Vec::new();
        let mut loss: Option<Tensor> = None;
        for id in graph.ids() {
            if let Operation::Unary(Unary::Relu, s) = *graph.operation(id) {
                tensors.push(tensors[s.0].relu().map_err(candle)?);
                continue;
            }
            let tensor = match &graph.node(id).op {
                Op::Leaf(kind, value) => {
                    // Vectors are columns, so that `W · x` is a matrix product.
                    let dims = match value.shape() {
                        Shape::Matrix(m, n) => (m, n),
                        Shape::Vector(n) => (n, 1),
                        Shape::Scalar => (1, 1),
                    };
                    let tensor = Tensor::from_vec(value.to_row_major(), dims, &device)
                        .and_then(|t| t.to_dtype(self.dtype()))
                        .map_err(candle)?;
                    if kind.is_differentiable() {
                        let var = Var::from_tensor(&tensor).map_err(candle)?;
                        let tracked = var.as_tensor().clone();
                        leaves.push((id, var));
                        tracked
                    } else {
                        tensor
                    }
                }
                Op::Gate(gate) => match *gate {
                    Gate::Add(a, b) => tensors[a.0].add(&tensors[b.0]).map_err(candle)?,
                    Gate::Matvec { weight, vector } => tensors[weight.0]
                        .matmul(&tensors[vector.0])
                        .map_err(candle)?,
                    Gate::Sigmoid(s) => candle_nn::ops::sigmoid(&tensors[s.0]).map_err(candle)?,
                    Gate::Sqerr { output, target } => {
                        let r = tensors[output.0].sub(&tensors[target.0]).map_err(candle)?;
                        let e = r
                            .sqr()
                            .and_then(|s| s.sum_all())
                            .and_then(|s| s.affine(0.5, 0.0))
                            .map_err(candle)?;
                        loss = Some(match loss {
                            None => e.clone(),
                            Some(total) => total.add(&e).map_err(candle)?,
                        });
                        e
                    }
                },
            };
            tensors.push(tensor);
        }
        let loss = loss.ok_or_else(|| EngineError::failed("the graph has no sqerr"))?;
        let grads = loss.backward().map_err(candle)?;
        let mut gradients = Gradients::empty(graph.len());
        for (id, var) in &leaves {
            // candle has no gradient for a leaf the loss does not depend on: zero.
            let entries = match grads.get(var.as_tensor()) {
                Some(g) => g
                    .to_dtype(DType::F64)
                    .and_then(|g| g.flatten_all())
                    .and_then(|g| g.to_vec1::<f64>())
                    .map_err(candle)?,
                None => vec![0.0; graph.shape_len(*id)],
            };
            gradients.set_row_major(graph, *id, &entries)?;
        }
        Ok(gradients)
    }
}

//! burn 0.22.1 as a gradfuzz engine, on its ndarray or flex CPU backend with autodiff: the
//! graph built as burn tensors node by node, the loss's `backward()`, the leaves' gradients
//! read back.

use burn::tensor::{DType, Device, Tensor, TensorData, activation};
use gradfuzz::op::{GateKind, GateSet, Operation, Unary};
use gradfuzz::{Engine, EngineError, Gate, Gradients, Graph, NodeId, Op, Precision, Shape};

/// Which burn CPU backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    NdArray,
    Flex,
}

/// burn with autodiff on a CPU backend, computing in `f64` or `f32`.
pub struct Burn {
    pub backend: Backend,
    pub precision: Precision,
}

impl Burn {
    #[allow(deprecated)] // burn 0.22 deprecates its ndarray backend, which is under test here
    fn device(&self) -> Device {
        match self.backend {
            Backend::NdArray => Device::ndarray(),
            Backend::Flex => Device::flex(),
        }
        .autodiff()
    }

    fn dtype(&self) -> DType {
        match self.precision {
            Precision::F32 => DType::F32,
            _ => DType::F64,
        }
    }
}

impl Engine for Burn {
    fn name(&self) -> String {
        let backend = match self.backend {
            Backend::NdArray => "ndarray",
            Backend::Flex => "flex",
        };
        format!("burn-{backend}-{}", self.precision)
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    /// The four gates and burn's own `relu`, on vectors.
    fn gates(&self) -> GateSet {
        GateSet::LECTURE.or(GateSet::of([GateKind::Relu], false))
    }

    fn gradients(&self, graph: &Graph) -> Result<Gradients, EngineError> {
        // A device per call: engines are shared between the fuzz loop's threads (`Sync`),
        // and a device is cheap to make.
        let device = self.device();
        // Each node's tensor, a matrix or a column; none for a loss, which only adds to
        // the total (and is no gate's operand).
        let mut nodes: Vec<Option<Tensor<2>>> = Vec::with_capacity(graph.len());
        let operand = |nodes: &[Option<Tensor<2>>], id: NodeId| {
            nodes[id.0].clone().expect("a loss is no gate's operand")
        };
        let mut leaves: Vec<(NodeId, Tensor<2>)> = Vec::new();
        let mut loss: Option<Tensor<1>> = None;
        for id in graph.ids() {
            if let Operation::Unary(Unary::Relu, s) = *graph.operation(id) {
                nodes.push(Some(activation::relu(operand(&nodes, s))));
                continue;
            }
            let node = match &graph.node(id).op {
                Op::Leaf(kind, value) => {
                    let dims = match value.shape() {
                        Shape::Matrix(m, n) => [m, n],
                        Shape::Vector(n) => [n, 1],
                        Shape::Scalar => [1, 1],
                    };
                    let entries = value.to_row_major();
                    let data = match self.precision {
                        Precision::F32 => {
                            TensorData::new(entries.iter().map(|&x| x as f32).collect(), dims)
                        }
                        _ => TensorData::new(entries, dims),
                    };
                    let tensor = Tensor::<2>::from_data(data, (&device, self.dtype()));
                    if kind.is_differentiable() {
                        let tracked = tensor.require_grad();
                        leaves.push((id, tracked.clone()));
                        Some(tracked)
                    } else {
                        Some(tensor)
                    }
                }
                Op::Gate(gate) => match *gate {
                    Gate::Add(a, b) => Some(operand(&nodes, a) + operand(&nodes, b)),
                    Gate::Matvec { weight, vector } => {
                        Some(operand(&nodes, weight).matmul(operand(&nodes, vector)))
                    }
                    Gate::Sigmoid(s) => Some(activation::sigmoid(operand(&nodes, s))),
                    Gate::Sqerr { output, target } => {
                        let r = operand(&nodes, output) - operand(&nodes, target);
                        let e = (r.clone() * r).sum().mul_scalar(0.5);
                        loss = Some(match loss {
                            None => e,
                            Some(total) => total + e,
                        });
                        None
                    }
                },
            };
            nodes.push(node);
        }
        let loss = loss.ok_or_else(|| EngineError::failed("the graph has no sqerr"))?;
        let grads = loss.backward();
        let mut gradients = Gradients::empty(graph.len());
        for (id, tensor) in &leaves {
            let entries = match tensor.grad(&grads) {
                Some(g) => g
                    .into_data()
                    .convert::<f64>()
                    .try_to_vec::<f64>()
                    .map_err(|e| EngineError::failed(format!("burn: {e:?}")))?,
                // No gradient for a leaf the loss does not depend on: zero.
                None => vec![0.0; graph.shape_len(*id)],
            };
            gradients.set_row_major(graph, *id, &entries)?;
        }
        Ok(gradients)
    }
}

//! Graph families that stress a tolerance: deep chains, wide layers, extreme values. None is
//! drawn by the fuzzer's generator, and none was tuned for the tolerance; the numbers come
//! from a fixed seed.

use faer::{Col, Mat};
use gradfuzz::gate::{Gate, Value};
use gradfuzz::graph::{Graph, LeafKind, Node, NodeId, Op, Operation};
use gradfuzz::op::{Binary, Loss, Rearrange, Reduce, Unary};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Builds a graph node by node.
struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn new() -> Self {
        Builder { nodes: Vec::new() }
    }

    fn push(&mut self, name: String, op: Op) -> NodeId {
        self.nodes.push(Node { name, op });
        NodeId(self.nodes.len() - 1)
    }

    fn leaf(&mut self, name: &str, kind: LeafKind, value: Value) -> NodeId {
        self.push(name.to_string(), Op::Leaf(kind, value))
    }

    fn gate(&mut self, name: String, gate: Gate) -> NodeId {
        self.push(name, Op::Gate(gate))
    }

    fn matvec(&mut self, name: String, weight: NodeId, vector: NodeId) -> NodeId {
        self.gate(name, Gate::Matvec { weight, vector })
    }

    fn loss(&mut self, output: NodeId, target: NodeId) -> NodeId {
        self.gate("E".into(), Gate::Sqerr { output, target })
    }

    fn graph(self) -> Graph {
        Graph::new(self.nodes).expect("a valid family graph")
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

fn vector(values: Vec<f64>) -> Value {
    Value::Vector(Col::from_fn(values.len(), |i| values[i]))
}

fn matrix(rows: usize, cols: usize, entry: impl FnMut(usize, usize) -> f64) -> Value {
    Value::Matrix(Mat::from_fn(rows, cols, entry))
}

/// One sigmoid unit with `width` inputs: `E = ½(σ(w·x) − t)²`.
pub fn wide_unit(width: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Builder::new();
    let x = b.leaf(
        "x",
        LeafKind::Input,
        vector((0..width).map(|_| normal(&mut rng)).collect()),
    );
    let scale = (width as f64).sqrt();
    let w = b.leaf(
        "W",
        LeafKind::Weight,
        matrix(1, width, |_, _| normal(&mut rng) / scale),
    );
    let s = b.matvec("s".into(), w, x);
    let o = b.gate("o".into(), Gate::Sigmoid(s));
    let t = b.leaf("t", LeafKind::Target, vector(vec![0.25]));
    b.loss(o, t);
    b.graph()
}

/// A chain of `depth` sigmoid layers of one unit, weights near 1:
/// `o_k = σ(w_k o_{k−1})`, `E = ½(o_depth − t)²`.
pub fn sigmoid_chain(depth: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Builder::new();
    let mut o = b.leaf("x", LeafKind::Input, vector(vec![0.5]));
    for k in 0..depth {
        let w = b.leaf(
            &format!("W{k}"),
            LeafKind::Weight,
            matrix(1, 1, |_, _| 1.0 + 0.1 * normal(&mut rng)),
        );
        let s = b.matvec(format!("s{k}"), w, o);
        o = b.gate(format!("o{k}"), Gate::Sigmoid(s));
    }
    let t = b.leaf("t", LeafKind::Target, vector(vec![0.9]));
    b.loss(o, t);
    b.graph()
}

/// `depth` matrix-vector products of `dim`×`dim` weights (entries N(0, 1/dim)), no sigmoid.
pub fn matvec_chain(depth: usize, dim: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Builder::new();
    let mut o = b.leaf(
        "x",
        LeafKind::Input,
        vector((0..dim).map(|_| normal(&mut rng)).collect()),
    );
    let scale = (dim as f64).sqrt();
    for k in 0..depth {
        let w = b.leaf(
            &format!("W{k}"),
            LeafKind::Weight,
            matrix(dim, dim, |_, _| normal(&mut rng) / scale),
        );
        o = b.matvec(format!("s{k}"), w, o);
    }
    let t = b.leaf(
        "t",
        LeafKind::Target,
        vector((0..dim).map(|_| normal(&mut rng)).collect()),
    );
    b.loss(o, t);
    b.graph()
}

/// `steps` doublings `a_k = add(a_{k−1}, a_{k−1})` of a small input, then a loss.
pub fn doubling_chain(steps: usize) -> Graph {
    let mut b = Builder::new();
    let start = 3.0 * 2f64.powi(-(steps as i32));
    let mut a = b.leaf("x", LeafKind::Input, vector(vec![start, -0.7 * start]));
    for k in 0..steps {
        a = b.gate(format!("a{k}"), Gate::Add(a, a));
    }
    let t = b.leaf("t", LeafKind::Target, vector(vec![1.0, 0.5]));
    b.loss(a, t);
    b.graph()
}

/// A weight of `tiny` followed by a weight of `huge`: `E = ½(huge·(tiny·x)·… − t)²`, with a
/// sigmoid between them so that both the product and its derivative are sensitive.
pub fn extreme_weights(tiny: f64, huge: f64) -> Graph {
    let mut b = Builder::new();
    let x = b.leaf("x", LeafKind::Input, vector(vec![0.75, -1.25]));
    let w1 = b.leaf(
        "W1",
        LeafKind::Weight,
        matrix(2, 2, |i, j| tiny * [1.0, 0.5, -0.25, 2.0][2 * i + j]),
    );
    let s1 = b.matvec("s1".into(), w1, x);
    let w2 = b.leaf(
        "W2",
        LeafKind::Weight,
        matrix(2, 2, |i, j| huge * [0.5, -1.0, 1.5, 0.25][2 * i + j]),
    );
    let s2 = b.matvec("s2".into(), w2, s1);
    let o = b.gate("o".into(), Gate::Sigmoid(s2));
    let t = b.leaf("t", LeafKind::Target, vector(vec![0.2, 0.9]));
    b.loss(o, t);
    b.graph()
}

/// Builds a graph of any gates, node by node.
#[derive(Default)]
struct Operations {
    nodes: Vec<(String, Operation)>,
}

impl Operations {
    fn push(&mut self, name: impl Into<String>, operation: Operation) -> NodeId {
        self.nodes.push((name.into(), operation));
        NodeId(self.nodes.len() - 1)
    }

    fn leaf(&mut self, name: impl Into<String>, kind: LeafKind, value: Value) -> NodeId {
        self.push(name, Operation::Leaf(kind, value))
    }

    fn graph(self) -> Graph {
        Graph::with_operations(self.nodes).expect("a valid family graph")
    }
}

/// `depth` tanh layers of one unit: `o ← tanh(w·o)`, weights near 1.
pub fn tanh_chain(depth: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let mut o = b.leaf("x", LeafKind::Input, vector(vec![0.5]));
    for k in 0..depth {
        let w = b.leaf(
            format!("W{k}"),
            LeafKind::Weight,
            matrix(1, 1, |_, _| 1.0 + 0.1 * normal(&mut rng)),
        );
        let s = b.push(format!("s{k}"), Operation::Binary(Binary::Matvec, w, o));
        o = b.push(format!("o{k}"), Operation::Unary(Unary::Tanh, s));
    }
    let t = b.leaf("t", LeafKind::Target, vector(vec![0.3]));
    b.push("E", Operation::Loss(Loss::Sqerr, o, t));
    b.graph()
}

/// The leaves every batch family starts from: an input batch `X` of `rows` × `cols` standard
/// normal entries and a bias `b` of `cols` entries of scale ½.
fn batch_and_bias(
    b: &mut Operations,
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
) -> (NodeId, NodeId) {
    let x = b.leaf("X", LeafKind::Input, matrix(rows, cols, |_, _| normal(rng)));
    let bias = b.leaf(
        "b",
        LeafKind::Input,
        vector((0..cols).map(|_| 0.5 * normal(rng)).collect()),
    );
    (x, bias)
}

/// A batch of `rows` examples of `cols` features: a bias added to every row, tanh, a second
/// bias added on the left, a sigmoid, and the squared error against a target batch; the
/// batch also feeds a second loss directly (fan-out of a matrix).
pub fn batch_layer(rows: usize, cols: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let (x, bias) = batch_and_bias(&mut b, &mut rng, rows, cols);
    let a = b.push("a", Operation::Binary(Binary::Add, x, bias));
    let h = b.push("h", Operation::Unary(Unary::Tanh, a));
    let second = b.leaf(
        "c",
        LeafKind::Input,
        vector((0..cols).map(|_| 0.5 * normal(&mut rng)).collect()),
    );
    let a2 = b.push("a2", Operation::Binary(Binary::Add, second, h));
    let o = b.push("o", Operation::Unary(Unary::Sigmoid, a2));
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, cols, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Sqerr, o, t));
    b.push("F", Operation::Loss(Loss::Sqerr, x, t));
    b.graph()
}

/// A layer over a batch with the mean squared error: `mse(tanh(X + b), T)`, plus a second
/// `mse` on the batch itself (its gradient divided by the rows twice over).
pub fn batch_mse(rows: usize, cols: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let (x, bias) = batch_and_bias(&mut b, &mut rng, rows, cols);
    let a = b.push("a", Operation::Binary(Binary::Add, bias, x));
    let h = b.push("h", Operation::Unary(Unary::Tanh, a));
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, cols, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Mse, h, t));
    b.push("F", Operation::Loss(Loss::Mse, x, t));
    b.graph()
}

/// Products over a batch: a gate `tanh(X + b) ⊙ σ(X)`, scaled on every row by a vector `c`
/// on the left, then squared (`mul(h, h)`, a fan-out into one product) under `mse`, with the
/// batch also reaching a loss of its own.
pub fn batch_products(rows: usize, cols: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let (x, bias) = batch_and_bias(&mut b, &mut rng, rows, cols);
    let a = b.push("a", Operation::Binary(Binary::Add, x, bias));
    let h = b.push("h", Operation::Unary(Unary::Tanh, a));
    let gate = b.push("o", Operation::Unary(Unary::Sigmoid, x));
    let p = b.push("p", Operation::Binary(Binary::Mul, h, gate));
    let scale = b.leaf(
        "c",
        LeafKind::Input,
        vector((0..cols).map(|_| 1.0 + 0.5 * normal(&mut rng)).collect()),
    );
    let q = b.push("q", Operation::Binary(Binary::Mul, scale, p));
    let square = b.push("s", Operation::Binary(Binary::Mul, q, q));
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, cols, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Mse, square, t));
    b.push("F", Operation::Loss(Loss::Sqerr, q, t));
    b.graph()
}

/// A batch reduced over its rows: `sqerr(mean(tanh(X + b)), t) + sqerr(sum(X), u)`, the batch
/// also reaching a loss of its own through `mse`.
pub fn batch_reductions(rows: usize, cols: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let (x, bias) = batch_and_bias(&mut b, &mut rng, rows, cols);
    let a = b.push("a", Operation::Binary(Binary::Add, x, bias));
    let h = b.push("h", Operation::Unary(Unary::Tanh, a));
    let mean = b.push("m", Operation::Reduce(Reduce::Mean, h));
    let sum = b.push("s", Operation::Reduce(Reduce::Sum, x));
    let t = b.leaf(
        "t",
        LeafKind::Target,
        vector((0..cols).map(|_| normal(&mut rng)).collect()),
    );
    let u = b.leaf(
        "u",
        LeafKind::Target,
        vector((0..cols).map(|_| normal(&mut rng)).collect()),
    );
    let target = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, cols, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Sqerr, mean, t));
    b.push("F", Operation::Loss(Loss::Sqerr, sum, u));
    b.push("G", Operation::Loss(Loss::Mse, h, target));
    b.graph()
}

/// tanh where it saturates and where it is linear: arguments ±30, ±20, ±1e-200, 0 and a
/// subnormal, in one row of a batch, then the squared error.
pub fn tanh_extremes() -> Graph {
    let mut b = Operations::default();
    let entries = [30.0, -30.0, 20.0, -19.5, 1e-200, -1e-200, 0.0, 4e-320];
    let x = b.leaf(
        "X",
        LeafKind::Input,
        matrix(1, entries.len(), |_, j| entries[j]),
    );
    let h = b.push("h", Operation::Unary(Unary::Tanh, x));
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(1, entries.len(), |_, j| 0.25 * j as f64 - 1.0),
    );
    b.push("E", Operation::Loss(Loss::Sqerr, h, t));
    b.graph()
}

/// A weight of `rows` × `cols` standard normal entries divided by √`rows` (its fan-in in a
/// product `X W`).
fn product_weight(
    b: &mut Operations,
    rng: &mut ChaCha8Rng,
    name: &str,
    rows: usize,
    cols: usize,
) -> NodeId {
    let scale = 1.0 / (rows as f64).sqrt();
    b.leaf(
        name,
        LeafKind::Weight,
        matrix(rows, cols, |_, _| scale * normal(rng)),
    )
}

/// A two-layer perceptron on a batch, as courses write it: `X·W1 + b1 → tanh → ·W2 + b2`,
/// then `mse` against a target batch.
pub fn mlp(rows: usize, inputs: usize, hidden: usize, outputs: usize, seed: u64) -> Graph {
    mlp_with(Unary::Tanh, rows, inputs, hidden, outputs, seed)
}

/// [`mlp`] with ReLU for tanh: `X·W1 + b1 → relu → ·W2 + b2 → mse`.
pub fn relu_mlp(rows: usize, inputs: usize, hidden: usize, outputs: usize, seed: u64) -> Graph {
    mlp_with(Unary::Relu, rows, inputs, hidden, outputs, seed)
}

fn mlp_with(
    activation: Unary,
    rows: usize,
    inputs: usize,
    hidden: usize,
    outputs: usize,
    seed: u64,
) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let x = b.leaf(
        "X",
        LeafKind::Input,
        matrix(rows, inputs, |_, _| normal(&mut rng)),
    );
    let w1 = product_weight(&mut b, &mut rng, "W1", inputs, hidden);
    let b1 = b.leaf(
        "b1",
        LeafKind::Input,
        vector((0..hidden).map(|_| 0.5 * normal(&mut rng)).collect()),
    );
    let s1 = b.push("s1", Operation::Binary(Binary::Matmul, x, w1));
    let a1 = b.push("a1", Operation::Binary(Binary::Add, s1, b1));
    let h = b.push("h", Operation::Unary(activation, a1));
    let w2 = product_weight(&mut b, &mut rng, "W2", hidden, outputs);
    let b2 = b.leaf(
        "b2",
        LeafKind::Input,
        vector((0..outputs).map(|_| 0.5 * normal(&mut rng)).collect()),
    );
    let s2 = b.push("s2", Operation::Binary(Binary::Matmul, h, w2));
    let y = b.push("y", Operation::Binary(Binary::Add, s2, b2));
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, outputs, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Mse, y, t));
    b.graph()
}

/// One square weight used by two layers (`tanh(X W + b)` twice, the bias shared too), then a
/// product by the transpose of a second weight (`H Vᵀ`, as `torch.nn.Linear` computes), under
/// `mse`; the first layer's mean over the batch feeds a second loss.
pub fn tied_layers(rows: usize, width: usize, outputs: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let (x, bias) = batch_and_bias(&mut b, &mut rng, rows, width);
    let w = product_weight(&mut b, &mut rng, "W", width, width);
    let s1 = b.push("s1", Operation::Binary(Binary::Matmul, x, w));
    let a1 = b.push("a1", Operation::Binary(Binary::Add, s1, bias));
    let h1 = b.push("h1", Operation::Unary(Unary::Tanh, a1));
    let s2 = b.push("s2", Operation::Binary(Binary::Matmul, h1, w));
    let a2 = b.push("a2", Operation::Binary(Binary::Add, bias, s2));
    let h2 = b.push("h2", Operation::Unary(Unary::Tanh, a2));
    let v = product_weight(&mut b, &mut rng, "V", outputs, width);
    let v_t = b.push("Vt", Operation::Rearrange(Rearrange::Transpose, v));
    let y = b.push("y", Operation::Binary(Binary::Matmul, h2, v_t));
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, outputs, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Mse, y, t));
    let m = b.push("m", Operation::Reduce(Reduce::Mean, h1));
    let u = b.leaf(
        "u",
        LeafKind::Target,
        vector((0..width).map(|_| 0.5 * normal(&mut rng)).collect()),
    );
    b.push("F", Operation::Loss(Loss::Sqerr, m, u));
    b.graph()
}

/// `depth` products of a batch by `dim`×`dim` weights, `X W1 W2 … W_depth`, under `mse`.
pub fn matmul_chain(depth: usize, dim: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let mut h = b.leaf(
        "X",
        LeafKind::Input,
        matrix(dim, dim, |_, _| normal(&mut rng)),
    );
    for k in 0..depth {
        let w = product_weight(&mut b, &mut rng, &format!("W{k}"), dim, dim);
        h = b.push(format!("m{k}"), Operation::Binary(Binary::Matmul, h, w));
    }
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(dim, dim, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Mse, h, t));
    b.graph()
}

/// `depth` ReLU layers of `width` units on a batch of `rows`: `H ← relu(H·W_k + b_k)`, He's
/// scale (`√(2/width)`) so that about half the units stay active at every depth, under `mse`.
pub fn relu_chain(depth: usize, rows: usize, width: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = Operations::default();
    let mut h = b.leaf(
        "X",
        LeafKind::Input,
        matrix(rows, width, |_, _| normal(&mut rng)),
    );
    let scale = (2.0 / width as f64).sqrt();
    for k in 0..depth {
        let w = b.leaf(
            format!("W{k}"),
            LeafKind::Weight,
            matrix(width, width, |_, _| scale * normal(&mut rng)),
        );
        let bias = b.leaf(
            format!("b{k}"),
            LeafKind::Input,
            vector((0..width).map(|_| 0.1 * normal(&mut rng)).collect()),
        );
        let s = b.push(format!("s{k}"), Operation::Binary(Binary::Matmul, h, w));
        let a = b.push(format!("a{k}"), Operation::Binary(Binary::Add, s, bias));
        h = b.push(format!("z{k}"), Operation::Unary(Unary::Relu, a));
    }
    let t = b.leaf(
        "T",
        LeafKind::Target,
        matrix(rows, width, |_, _| normal(&mut rng)),
    );
    b.push("E", Operation::Loss(Loss::Mse, h, t));
    b.graph()
}

/// The families, by name, as the README's table lists them.
pub fn all() -> Vec<(String, Graph)> {
    let mut families = vec![("unit with 4,096 inputs".to_string(), wide_unit(4096, 1))];
    for depth in [10, 20, 30, 60] {
        families.push((
            format!("{depth} sigmoid layers"),
            sigmoid_chain(depth, depth as u64),
        ));
    }
    families.push(("40 matvecs of 3×3".into(), matvec_chain(40, 3, 40)));
    families.push(("500 add(x, x)".into(), doubling_chain(500)));
    families.push((
        "weights 1e-300 then 1e278".into(),
        extreme_weights(1e-300, 1e278),
    ));
    for depth in [10, 60] {
        families.push((
            format!("{depth} tanh layers"),
            tanh_chain(depth, 100 + depth as u64),
        ));
    }
    families.push(("batch of 64×8, biases, tanh".into(), batch_layer(64, 8, 64)));
    families.push(("batch of 1×5, biases, tanh".into(), batch_layer(1, 5, 1)));
    families.push(("tanh at ±30 and ±1e-200".into(), tanh_extremes()));
    families.push(("batch of 48×6, mse".into(), batch_mse(48, 6, 48)));
    families.push(("batch of 1×3, mse".into(), batch_mse(1, 3, 3)));
    families.push((
        "batch of 40×5, mean and sum".into(),
        batch_reductions(40, 5, 40),
    ));
    families.push((
        "batch of 1×4, mean and sum".into(),
        batch_reductions(1, 4, 4),
    ));
    families.push(("batch of 32×6, products".into(), batch_products(32, 6, 32)));
    families.push(("MLP 32×8→16→4".into(), mlp(32, 8, 16, 4, 32)));
    families.push(("MLP 1×3→2→1".into(), mlp(1, 3, 2, 1, 1)));
    families.push(("tied layers 16×6, Vᵀ".into(), tied_layers(16, 6, 3, 16)));
    families.push(("20 matmuls of 4×4".into(), matmul_chain(20, 4, 20)));
    families.push(("batch of 1×2, products".into(), batch_products(1, 2, 2)));
    families.push(("MLP 32×8→16→4, relu".into(), relu_mlp(32, 8, 16, 4, 32)));
    families.push(("MLP 1×3→2→1, relu".into(), relu_mlp(1, 3, 4, 1, 3)));
    families.push((
        "12 relu layers of 6, batch 4".into(),
        relu_chain(12, 4, 6, 12),
    ));
    families
}

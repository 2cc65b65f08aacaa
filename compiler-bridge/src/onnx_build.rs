//! A small ONNX graph builder, and the MLPerf Tiny reference architectures built with it.
//!
//! The reference models are built here, with seeded weights, so that tests and benchmarks measure
//! the published architectures without downloading anything. Layer shapes follow the MLPerf Tiny
//! reference implementations (github.com/mlcommons/tiny, `benchmark/training/*/keras_model.py`):
//! convolutions with biases, batch normalisation after them, "same" padding with the extra pixel at
//! the end as Keras pads.

use prost::Message as _;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;

/// Builds one ONNX graph (opset 13) with seeded float32 weights.
pub struct GraphBuilder {
    graph: pb::GraphProto,
    rng: u64,
    counter: usize,
}

impl GraphBuilder {
    /// An empty graph whose weights come from `seed`.
    pub fn new(name: &str, seed: u64) -> Self {
        Self {
            graph: pb::GraphProto {
                name: name.to_owned(),
                ..Default::default()
            },
            rng: seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407),
            counter: 0,
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// Uniform in [-1, 1) from a 64-bit LCG (deterministic across platforms).
    fn next(&mut self) -> f32 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.rng >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Declares a float32 graph input.
    pub fn input(&mut self, name: &str, shape: &[i64]) -> String {
        self.graph.input.push(value_info(name, shape));
        name.to_owned()
    }

    /// A float32 initializer of `shape`, scaled by `scale`, with an offset (for BN variances).
    pub fn tensor(&mut self, shape: &[i64], scale: f32, offset: f32) -> String {
        let name = self.fresh("w");
        let n: i64 = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.next() * scale + offset).collect();
        self.graph.initializer.push(pb::TensorProto {
            name: name.clone(),
            dims: shape.to_vec(),
            data_type: 1,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// An int64 initializer (shapes).
    pub fn int64s(&mut self, values: &[i64]) -> String {
        let name = self.fresh("shape");
        self.graph.initializer.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: 7,
            int64_data: values.to_vec(),
            ..Default::default()
        });
        name
    }

    /// Adds a node and returns the name of its (first) output.
    pub fn node(&mut self, op: &str, inputs: &[&str], attributes: Vec<pb::AttributeProto>) -> String {
        let output = self.fresh(&op.to_lowercase());
        let name = self.fresh(op);
        self.graph.node.push(pb::NodeProto {
            name,
            op_type: op.to_owned(),
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![output.clone()],
            attribute: attributes,
            ..Default::default()
        });
        output
    }

    /// Conv with bias; `pads` as ONNX orders them (top, left, bottom, right).
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &str,
        cin: i64,
        cout: i64,
        kernel: [i64; 2],
        stride: i64,
        pads: [i64; 4],
        group: i64,
    ) -> String {
        let fan_in = (cin / group) * kernel[0] * kernel[1];
        let w = self.tensor(
            &[cout, cin / group, kernel[0], kernel[1]],
            (2.0 / fan_in as f32).sqrt(),
            0.0,
        );
        let b = self.tensor(&[cout], 0.01, 0.0);
        self.node(
            "Conv",
            &[x, &w, &b],
            vec![
                ints("kernel_shape", &kernel),
                ints("strides", &[stride, stride]),
                ints("pads", &pads),
                int("group", group),
            ],
        )
    }

    /// BatchNormalization over `channels`.
    pub fn batch_norm(&mut self, x: &str, channels: i64) -> String {
        let scale = self.tensor(&[channels], 0.1, 1.0);
        let bias = self.tensor(&[channels], 0.1, 0.0);
        let mean = self.tensor(&[channels], 0.1, 0.0);
        let var = self.tensor(&[channels], 0.1, 1.0);
        self.node("BatchNormalization", &[x, &scale, &bias, &mean, &var], vec![])
    }

    /// Conv + BatchNormalization + Relu.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_bn_relu(
        &mut self,
        x: &str,
        cin: i64,
        cout: i64,
        kernel: [i64; 2],
        stride: i64,
        pads: [i64; 4],
        group: i64,
    ) -> String {
        let y = self.conv(x, cin, cout, kernel, stride, pads, group);
        let y = self.batch_norm(&y, cout);
        self.node("Relu", &[&y], vec![])
    }

    /// Gemm (a dense layer) with bias: `x` is `[1, inputs]`.
    pub fn dense(&mut self, x: &str, inputs: i64, outputs: i64) -> String {
        let w = self.tensor(&[inputs, outputs], (2.0 / inputs as f32).sqrt(), 0.0);
        let b = self.tensor(&[outputs], 0.01, 0.0);
        self.node("Gemm", &[x, &w, &b], vec![])
    }

    /// Global average pooling followed by a flatten to `[1, C]`.
    pub fn pool_flatten(&mut self, x: &str) -> String {
        let pooled = self.node("GlobalAveragePool", &[x], vec![]);
        self.node("Flatten", &[&pooled], vec![int("axis", 1)])
    }

    /// Finishes the model with `output` of `shape` as its only output.
    pub fn finish(mut self, output: &str, shape: &[i64]) -> pb::ModelProto {
        self.graph.output.push(value_info(output, shape));
        pb::ModelProto {
            ir_version: 8,
            producer_name: "seam-compiler-bridge".into(),
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(self.graph),
            ..Default::default()
        }
    }
}

fn value_info(name: &str, shape: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as Dim, Dimension};
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|d| Dimension {
                            value: Some(Dim::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// Serialises a model.
pub fn to_bytes(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// "Same" padding for a square kernel `k` and stride `s` on a side of `n`: (before, after), with
/// the odd pixel after, as Keras and TensorFlow pad.
fn same(n: i64, k: i64, s: i64) -> (i64, i64) {
    let out = (n + s - 1) / s;
    let total = ((out - 1) * s + k - n).max(0);
    (total / 2, total - total / 2)
}

fn same_pads(h: i64, w: i64, k: [i64; 2], s: i64) -> [i64; 4] {
    let (t, b) = same(h, k[0], s);
    let (l, r) = same(w, k[1], s);
    [t, l, b, r]
}

/// A reference architecture with what it should measure.
pub struct Reference {
    /// Short name.
    pub name: &'static str,
    /// The model.
    pub model: pb::ModelProto,
    /// Learnable parameters of the architecture, counted layer by layer (weights, biases,
    /// batch-norm scale and shift).
    pub params: u64,
    /// MACs of one inference, as MLPerf Tiny publishes them.
    pub published_macs: u64,
}

/// MLPerf Tiny anomaly detection: the FC autoencoder (640 → 4×128 → 8 → 4×128 → 640, batch norm
/// and ReLU after every hidden layer). Published: 0.264 M MACs.
pub fn fc_autoencoder(seed: u64) -> Reference {
    let mut g = GraphBuilder::new("ad_fc_autoencoder", seed);
    let mut x = g.input("input", &[1, 640]);
    let widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128];
    let mut params = 0;
    for pair in widths.windows(2) {
        let y = g.dense(&x, pair[0], pair[1]);
        let y = g.batch_norm(&y, pair[1]);
        x = g.node("Relu", &[&y], vec![]);
        params += pair[0] * pair[1] + pair[1] + 2 * pair[1];
    }
    let out = g.dense(&x, 128, 640);
    params += 128 * 640 + 640;
    Reference {
        name: "fc-autoencoder",
        model: g.finish(&out, &[1, 640]),
        params: params as u64,
        published_macs: 264_192,
    }
}

/// MLPerf Tiny image classification: ResNet-8 on 32×32×3 CIFAR-10 (16/32/64 filters, 1×1
/// strided shortcuts). Published: 12.5 M MACs.
pub fn resnet8(seed: u64) -> Reference {
    let mut g = GraphBuilder::new("ic_resnet8", seed);
    let x = g.input("input", &[1, 3, 32, 32]);
    let mut params = 3 * 3 * 3 * 16 + 16 + 2 * 16;
    let mut x = g.conv_bn_relu(&x, 3, 16, [3, 3], 1, same_pads(32, 32, [3, 3], 1), 1);
    let mut side = 32;
    let mut cin = 16;
    for (cout, stride) in [(16, 1), (32, 2), (64, 2)] {
        let y = g.conv_bn_relu(&x, cin, cout, [3, 3], stride, same_pads(side, side, [3, 3], stride), 1);
        let out_side = (side + stride - 1) / stride;
        let y = g.conv(&y, cout, cout, [3, 3], 1, same_pads(out_side, out_side, [3, 3], 1), 1);
        let y = g.batch_norm(&y, cout);
        params += 9 * cin * cout + cout + 2 * cout + 9 * cout * cout + cout + 2 * cout;
        let shortcut = if stride == 1 && cin == cout {
            x.clone()
        } else {
            params += cin * cout + cout;
            g.conv(&x, cin, cout, [1, 1], stride, [0, 0, 0, 0], 1)
        };
        let sum = g.node("Add", &[&y, &shortcut], vec![]);
        x = g.node("Relu", &[&sum], vec![]);
        side = out_side;
        cin = cout;
    }
    classifier(g, &x, 64, 10, params as u64, "resnet8", 12_500_000)
}

/// MLPerf Tiny keyword spotting: DS-CNN on 49×10 MFCC features (a 10×4 stride-2 convolution with
/// 64 filters, four depthwise-separable blocks, average pooling, 12 classes). Published: 2.7 M
/// MACs.
pub fn ds_cnn(seed: u64) -> Reference {
    let mut g = GraphBuilder::new("kws_ds_cnn", seed);
    let x = g.input("input", &[1, 1, 49, 10]);
    let mut x = g.conv_bn_relu(&x, 1, 64, [10, 4], 2, same_pads(49, 10, [10, 4], 2), 1);
    let mut params = 10 * 4 * 64 + 64 + 2 * 64;
    let (h, w) = (25, 5);
    for _ in 0..4 {
        x = g.conv_bn_relu(&x, 64, 64, [3, 3], 1, same_pads(h, w, [3, 3], 1), 64);
        x = g.conv_bn_relu(&x, 64, 64, [1, 1], 1, [0, 0, 0, 0], 1);
        params += 9 * 64 + 64 + 2 * 64 + 64 * 64 + 64 + 2 * 64;
    }
    classifier(g, &x, 64, 12, params as u64, "ds-cnn", 2_700_000)
}

/// MLPerf Tiny visual wake words: MobileNetV1 with width 0.25 on 96×96×3, 2 classes.
/// Published: 7.49 M MACs. (Its Keras model has 221,794 parameters: these 216,322 learnable ones
/// plus 5,472 batch-norm running statistics.)
pub fn mobilenet_v1_025(seed: u64) -> Reference {
    let mut g = GraphBuilder::new("vww_mobilenet_v1_025", seed);
    let x = g.input("input", &[1, 3, 96, 96]);
    let mut x = g.conv_bn_relu(&x, 3, 8, [3, 3], 2, same_pads(96, 96, [3, 3], 2), 1);
    let mut params = 27 * 8 + 8 + 2 * 8;
    let mut side = 48;
    let mut cin = 8;
    let blocks = [
        (16, 1),
        (32, 2),
        (32, 1),
        (64, 2),
        (64, 1),
        (128, 2),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (256, 2),
        (256, 1),
    ];
    for (cout, stride) in blocks {
        x = g.conv_bn_relu(&x, cin, cin, [3, 3], stride, same_pads(side, side, [3, 3], stride), cin);
        side = (side + stride - 1) / stride;
        x = g.conv_bn_relu(&x, cin, cout, [1, 1], 1, [0, 0, 0, 0], 1);
        params += 9 * cin + cin + 2 * cin + cin * cout + cout + 2 * cout;
        cin = cout;
    }
    classifier(g, &x, 256, 2, params as u64, "mobilenet-v1-0.25", 7_490_000)
}

/// Global average pooling, a dense layer to `classes`, Softmax: the head the three classifiers
/// share, and the finished reference.
fn classifier(
    mut g: GraphBuilder,
    x: &str,
    channels: i64,
    classes: i64,
    params: u64,
    name: &'static str,
    published_macs: u64,
) -> Reference {
    let flat = g.pool_flatten(x);
    let logits = g.dense(&flat, channels, classes);
    let out = g.node("Softmax", &[&logits], vec![int("axis", 1)]);
    Reference {
        name,
        model: g.finish(&out, &[1, classes]),
        params: params + (channels * classes + classes) as u64,
        published_macs,
    }
}

/// The four MLPerf Tiny reference architectures.
pub fn mlperf_tiny(seed: u64) -> Vec<Reference> {
    vec![
        ds_cnn(seed),
        mobilenet_v1_025(seed),
        resnet8(seed),
        fc_autoencoder(seed),
    ]
}

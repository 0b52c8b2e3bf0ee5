// Tensors held by libtorch, addressed from JavaScript by small integer handles.
//
// The JavaScript side (a TensorFlow.js KernelBackend) owns the handles: every function that makes a tensor
// returns a fresh handle and writes the result's dtype and shape into the shared `meta` buffer, so that the
// caller learns them without another call. Only float32, int32 and bool cross the boundary; ATen results
// of other types (int64 sums, float64) are narrowed to those.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <napi.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum DType : int32_t { kF32 = 0, kI32 = 1, kBool = 2 };

std::vector<at::Tensor> slots;
std::vector<int32_t> freeSlots;
int32_t live = 0;
int32_t* meta = nullptr;  // [dtype, rank, d0, d1, ...]
constexpr int kMaxRank = 8;
Napi::Reference<Napi::Int32Array> metaRef;

at::ScalarType scalarType(int32_t d) {
  switch (d) {
    case kF32: return at::kFloat;
    case kI32: return at::kInt;
    case kBool: return at::kBool;
  }
  throw std::runtime_error("unsupported dtype code " + std::to_string(d));
}

int32_t dtypeCode(at::ScalarType t) {
  if (t == at::kFloat) return kF32;
  if (t == at::kInt) return kI32;
  if (t == at::kBool) return kBool;
  throw std::runtime_error(std::string("unsupported result dtype ") + c10::toString(t));
}

/** Narrows a result to one of the three exchanged types. */
at::Tensor narrowed(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
    case at::kInt:
    case at::kBool: return t;
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16: return t.to(at::kFloat);
    default: return t.to(at::kInt);
  }
}

int32_t store(at::Tensor t) {
  t = narrowed(t);
  if (t.dim() > kMaxRank) throw std::runtime_error("rank above 8");
  meta[0] = dtypeCode(t.scalar_type());
  meta[1] = static_cast<int32_t>(t.dim());
  for (int64_t i = 0; i < t.dim(); i++) meta[2 + i] = static_cast<int32_t>(t.size(i));
  int32_t id;
  if (!freeSlots.empty()) {
    id = freeSlots.back();
    freeSlots.pop_back();
    slots[id] = std::move(t);
  } else {
    id = static_cast<int32_t>(slots.size());
    slots.push_back(std::move(t));
  }
  live++;
  return id;
}

const at::Tensor& get(const Napi::Value& v) {
  int32_t id = v.As<Napi::Number>().Int32Value();
  if (id < 0 || id >= static_cast<int32_t>(slots.size()) || !slots[id].defined()) {
    throw std::runtime_error("invalid tensor handle " + std::to_string(id));
  }
  return slots[id];
}

std::vector<int64_t> ints(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsNumber()) {
    out.push_back(v.As<Napi::Number>().Int64Value());
    return out;
  }
  Napi::Array a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

std::vector<at::Tensor> tensors(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(get(a.Get(i)));
  return out;
}

Napi::Value handles(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array out = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, store(ts[i])));
  return out;
}

Napi::Value handle(Napi::Env env, at::Tensor t) { return Napi::Number::New(env, store(std::move(t))); }

double num(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
int32_t int32(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }
bool flag(const Napi::CallbackInfo& info, size_t i) { return info[i].ToBoolean().Value(); }

int64_t axis(int64_t a, int64_t rank) { return a < 0 ? a + rank : a; }

// Every exported function converts C++ and ATen errors into JavaScript errors (ATen's without its backtrace).
#define GUARD(...)                                                               \
  try {                                                                          \
    __VA_ARGS__                                                                  \
  } catch (const c10::Error& e) {                                                \
    throw Napi::Error::New(info.Env(), e.what_without_backtrace());              \
  } catch (const Napi::Error&) {                                                 \
    throw;                                                                       \
  } catch (const std::exception& e) {                                            \
    throw Napi::Error::New(info.Env(), e.what());                                \
  }

// --- storage ---------------------------------------------------------------------------------------------

Napi::Value SetMeta(const Napi::CallbackInfo& info) {
  Napi::Int32Array m = info[0].As<Napi::Int32Array>();
  if (m.ElementLength() < 2 + kMaxRank) throw Napi::Error::New(info.Env(), "meta buffer too short");
  metaRef = Napi::Persistent(m);
  meta = m.Data();
  return info.Env().Undefined();
}

Napi::Value FromArray(const Napi::CallbackInfo& info) {
  GUARD({
    Napi::TypedArray src = info[0].As<Napi::TypedArray>();
    std::vector<int64_t> shape = ints(info[1]);
    at::ScalarType type = scalarType(int32(info, 2));
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
    size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
    size_t given = src.ByteLength();
    if (given != bytes) throw std::runtime_error("data size " + std::to_string(given) + " bytes ≠ shape size " + std::to_string(bytes));
    auto* base = static_cast<uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
    if (bytes > 0) std::memcpy(t.data_ptr(), base, bytes);
    if (type == at::kBool) t = t.ne(0);  // any non-zero byte is true
    return handle(info.Env(), t);
  })
}

Napi::Value ToArray(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor t = get(info[0]).contiguous();
    Napi::Env env = info.Env();
    size_t n = static_cast<size_t>(t.numel());
    switch (t.scalar_type()) {
      case at::kFloat: {
        auto out = Napi::Float32Array::New(env, n);
        if (n) std::memcpy(out.Data(), t.data_ptr(), n * 4);
        return out;
      }
      case at::kInt: {
        auto out = Napi::Int32Array::New(env, n);
        if (n) std::memcpy(out.Data(), t.data_ptr(), n * 4);
        return out;
      }
      case at::kBool: {
        auto out = Napi::Uint8Array::New(env, n);
        if (n) std::memcpy(out.Data(), t.data_ptr(), n);
        return out;
      }
      default: throw std::runtime_error("unexpected stored dtype");
    }
  })
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  GUARD({
    int32_t id = int32(info, 0);
    if (id < 0 || id >= static_cast<int32_t>(slots.size()) || !slots[id].defined()) throw std::runtime_error("free: invalid handle");
    slots[id].reset();
    freeSlots.push_back(id);
    live--;
    return info.Env().Undefined();
  })
}

Napi::Value Live(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), live); }

Napi::Value Clone(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), get(info[0])); })
}

// --- elementwise -----------------------------------------------------------------------------------------

// Codes shared with the JavaScript side (see index.js UNARY / BINARY).
enum Unary { U_ABS, U_EXP, U_FLOOR, U_LOG1P, U_NEG, U_RELU, U_SIGMOID, U_SQRT, U_SQUARE, U_RSQRT, U_STEP, U_TANH, U_LOG, U_ZEROS_LIKE, U_ONES_LIKE, U_CEIL, U_ROUND, U_RECIPROCAL, U_SIGN, U_ELU, U_RELU6, U_LEAKY_RELU, U_LOGICAL_NOT, U_SOFTPLUS, U_IS_NAN, U_EXPM1 };

at::Tensor unary(int code, const at::Tensor& x, double alpha) {
  switch (code) {
    case U_ABS: return x.abs();
    case U_EXP: return x.exp();
    case U_FLOOR: return x.is_floating_point() ? x.floor() : x.clone();
    case U_CEIL: return x.is_floating_point() ? x.ceil() : x.clone();
    // tfjs rounds half to even, as ATen's round does.
    case U_ROUND: return x.is_floating_point() ? x.round() : x.clone();
    case U_LOG1P: return x.log1p();
    case U_LOG: return x.log();
    case U_NEG: return x.neg();
    case U_RELU: return x.relu();
    case U_RELU6: return x.clamp(0, 6);
    case U_SIGMOID: return x.sigmoid();
    case U_TANH: return x.tanh();
    case U_SQRT: return x.sqrt();
    case U_RSQRT: return x.rsqrt();
    case U_SQUARE: return x * x;
    case U_RECIPROCAL: return x.reciprocal();
    case U_SIGN: return x.sign();
    case U_EXPM1: return x.expm1();
    case U_SOFTPLUS: return at::softplus(x);
    case U_ELU: return at::elu(x);
    case U_LEAKY_RELU: return at::where(x < 0, x * alpha, x);
    // tfjs Step: 1 above zero, alpha otherwise, NaN stays NaN.
    case U_STEP: {
      if (x.scalar_type() != at::kFloat) return at::where(x > 0, at::scalar_tensor(1, x.options()), at::scalar_tensor(alpha, x.options()));
      // One pass (three ATen calls took 0.7 ms on [6144, 32]).
      at::Tensor in = x.contiguous();
      at::Tensor out = at::empty_like(in);
      const float* xp = in.data_ptr<float>();
      float* op = out.data_ptr<float>();
      float a = static_cast<float>(alpha);
      for (int64_t i = 0, n = in.numel(); i < n; i++) op[i] = std::isnan(xp[i]) ? xp[i] : xp[i] > 0 ? 1.0f : a;
      return out;
    }
    case U_ZEROS_LIKE: return at::zeros_like(x);
    case U_ONES_LIKE: return at::ones_like(x);
    case U_LOGICAL_NOT: return x.logical_not();
    case U_IS_NAN: return x.isnan();
  }
  throw std::runtime_error("unknown unary op " + std::to_string(code));
}

Napi::Value UnaryOp(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), unary(int32(info, 0), get(info[1]), info.Length() > 2 ? num(info, 2) : 0.0)); })
}

enum Binary { B_ADD, B_SUB, B_MUL, B_REAL_DIV, B_MAXIMUM, B_MINIMUM, B_POW, B_SQUARED_DIFFERENCE, B_GREATER, B_GREATER_EQUAL, B_LESS, B_LESS_EQUAL, B_EQUAL, B_NOT_EQUAL, B_LOGICAL_AND, B_LOGICAL_OR, B_FLOOR_DIV, B_MOD };

at::Tensor binary(int code, const at::Tensor& a, const at::Tensor& b) {
  switch (code) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_REAL_DIV: return a.to(at::kFloat) / b.to(at::kFloat);
    case B_MAXIMUM: return at::maximum(a, b);
    case B_MINIMUM: return at::minimum(a, b);
    case B_POW: return at::pow(a, b);
    case B_SQUARED_DIFFERENCE: {
      at::Tensor d = a - b;
      return d * d;
    }
    case B_GREATER: return a.gt(b);
    case B_GREATER_EQUAL: return a.ge(b);
    case B_LESS: return a.lt(b);
    case B_LESS_EQUAL: return a.le(b);
    case B_EQUAL: return a.eq(b);
    case B_NOT_EQUAL: return a.ne(b);
    case B_LOGICAL_AND: return a.logical_and(b);
    case B_LOGICAL_OR: return a.logical_or(b);
    case B_FLOOR_DIV: return at::div(a, b, "floor");
    // tfjs Mod takes the sign of the divisor, as Python's % and ATen's remainder do.
    case B_MOD: return at::remainder(a, b);
  }
  throw std::runtime_error("unknown binary op " + std::to_string(code));
}

Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), binary(int32(info, 0), get(info[1]), get(info[2]))); })
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    at::ScalarType to = scalarType(int32(info, 1));
    if (to == at::kBool) return handle(info.Env(), x.ne(0));
    return handle(info.Env(), x.to(to));
  })
}

Napi::Value AddN(const Napi::CallbackInfo& info) {
  GUARD({
    std::vector<at::Tensor> xs = tensors(info[0]);
    at::Tensor sum = xs.at(0).clone();
    for (size_t i = 1; i < xs.size(); i++) sum.add_(xs[i]);
    return handle(info.Env(), sum);
  })
}

Napi::Value Select(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& c = get(info[0]);
    at::Tensor a = get(info[1]);
    at::Tensor b = get(info[2]);
    at::Tensor cond = c.to(at::kBool);
    // tfjs Select with a rank-1 condition on higher-rank inputs picks whole rows.
    if (cond.dim() == 1 && a.dim() > 1) {
      std::vector<int64_t> shape(a.dim(), 1);
      shape[0] = cond.size(0);
      cond = cond.reshape(shape);
    }
    return handle(info.Env(), at::where(cond, a, b));
  })
}

Napi::Value ClipByValue(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), get(info[0]).clamp(num(info, 1), num(info, 2))); })
}

// --- linear algebra --------------------------------------------------------------------------------------

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, bool ta, bool tb) {
  return at::matmul(ta ? a.transpose(-1, -2) : a, tb ? b.transpose(-1, -2) : b);
}

enum Activation { A_LINEAR, A_RELU, A_SIGMOID, A_ELU, A_RELU6, A_LEAKY_RELU, A_TANH };

at::Tensor activate(at::Tensor x, int act, double alpha) {
  switch (act) {
    case A_LINEAR: return x;
    case A_RELU: return x.relu_();
    case A_SIGMOID: return x.sigmoid_();
    case A_TANH: return x.tanh_();
    case A_ELU: return at::elu(x);
    case A_RELU6: return x.clamp_(0, 6);
    case A_LEAKY_RELU: return at::where(x < 0, x * alpha, x);
  }
  throw std::runtime_error("unknown activation " + std::to_string(act));
}

Napi::Value MatMul(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), matmul(get(info[0]), get(info[1]), flag(info, 2), flag(info, 3))); })
}

// a·b (+ bias) then the activation: [.., m, k]·[.., k, n].
Napi::Value FusedMatMul(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor out = matmul(get(info[0]), get(info[1]), flag(info, 3), flag(info, 4));
    if (!info[2].IsNull() && !info[2].IsUndefined()) out.add_(get(info[2]));
    return handle(info.Env(), activate(out, int32(info, 5), num(info, 6)));
  })
}

// --- reductions ------------------------------------------------------------------------------------------

enum Reduce { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_ANY, R_ALL, R_ARGMAX, R_ARGMIN };

Napi::Value ReduceOp(const Napi::CallbackInfo& info) {
  GUARD({
    int code = int32(info, 0);
    at::Tensor x = get(info[1]);
    std::vector<int64_t> axes = ints(info[2]);
    bool keep = flag(info, 3);
    for (auto& a : axes) a = axis(a, x.dim());
    at::Tensor out;
    switch (code) {
      case R_SUM: out = x.scalar_type() == at::kBool ? x.to(at::kInt).sum(axes, keep) : x.sum(axes, keep); break;
      case R_MEAN: out = x.to(at::kFloat).mean(axes, keep); break;
      case R_PROD: {
        out = x.scalar_type() == at::kBool ? x.to(at::kInt) : x;
        for (auto it = axes.rbegin(); it != axes.rend(); ++it) out = out.prod(*it, keep);
        break;
      }
      case R_MAX:
      case R_MIN: out = code == R_MAX ? at::amax(x, axes, keep) : at::amin(x, axes, keep); break;
      case R_ANY:
      case R_ALL: {
        out = x.to(at::kBool);
        for (auto it = axes.rbegin(); it != axes.rend(); ++it) out = code == R_ANY ? out.any(*it, keep) : out.all(*it, keep);
        break;
      }
      case R_ARGMAX: out = x.argmax(axes.at(0), false).to(at::kInt); break;
      case R_ARGMIN: out = x.argmin(axes.at(0), false).to(at::kInt); break;
      default: throw std::runtime_error("unknown reduction");
    }
    // tfjs sums of int32 stay int32 (ATen widens them to int64).
    if (x.scalar_type() == at::kInt && out.scalar_type() == at::kLong) out = out.to(at::kInt);
    return handle(info.Env(), out);
  })
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), at::softmax(get(info[0]), int32(info, 1))); })
}

Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), at::log_softmax(get(info[0]), int32(info, 1))); })
}

// --- shapes ----------------------------------------------------------------------------------------------

Napi::Value Reshape(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), get(info[0]).reshape(ints(info[1]))); })
}

Napi::Value Transpose(const Napi::CallbackInfo& info) {
  // Materialized: a later matMul or read of a strided view is slower than one copy here.
  GUARD({ return handle(info.Env(), get(info[0]).permute(ints(info[1])).contiguous()); })
}

Napi::Value Slice(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor x = get(info[0]);
    std::vector<int64_t> begin = ints(info[1]);
    std::vector<int64_t> size = ints(info[2]);
    for (size_t d = 0; d < begin.size(); d++) {
      int64_t len = size[d] < 0 ? x.size(d) - begin[d] : size[d];
      if (begin[d] != 0 || len != x.size(d)) x = x.narrow(d, begin[d], len);
    }
    return handle(info.Env(), x);
  })
}

Napi::Value StridedSlice(const Napi::CallbackInfo& info) {
  GUARD({
    // begin, end, strides already normalized by tfjs's slice_util (positive strides only here).
    at::Tensor x = get(info[0]);
    std::vector<int64_t> begin = ints(info[1]);
    std::vector<int64_t> end = ints(info[2]);
    std::vector<int64_t> strides = ints(info[3]);
    for (size_t d = 0; d < begin.size(); d++) {
      if (strides[d] <= 0) throw std::runtime_error("stridedSlice: only positive strides");
      x = x.slice(d, begin[d], end[d], strides[d]);
    }
    return handle(info.Env(), x.reshape(ints(info[4])));
  })
}

Napi::Value Concat(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), at::cat(tensors(info[0]), int32(info, 1))); })
}

Napi::Value Split(const Napi::CallbackInfo& info) {
  GUARD({ return handles(info.Env(), at::split_with_sizes(get(info[0]), ints(info[1]), int32(info, 2))); })
}

Napi::Value Unpack(const Napi::CallbackInfo& info) {
  GUARD({ return handles(info.Env(), at::unbind(get(info[0]), int32(info, 1))); })
}

Napi::Value Stack(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), at::stack(tensors(info[0]), int32(info, 1))); })
}

// paddings as [before_0, after_0, before_1, after_1, ...] in dimension order.
Napi::Value Pad(const Napi::CallbackInfo& info) {
  GUARD({
    std::vector<int64_t> p = ints(info[1]);
    std::vector<int64_t> aten;
    for (size_t d = p.size() / 2; d-- > 0;) {
      aten.push_back(p[2 * d]);
      aten.push_back(p[2 * d + 1]);
    }
    return handle(info.Env(), at::constant_pad_nd(get(info[0]), aten, num(info, 2)));
  })
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  GUARD({
    return handle(info.Env(), at::full(ints(info[0]), num(info, 1), at::TensorOptions().dtype(scalarType(int32(info, 2)))));
  })
}

Napi::Value Range(const Napi::CallbackInfo& info) {
  GUARD({
    at::ScalarType type = scalarType(int32(info, 3));
    return handle(info.Env(), at::arange(num(info, 0), num(info, 1), num(info, 2), at::TensorOptions().dtype(at::kDouble)).to(type));
  })
}

Napi::Value Tile(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), get(info[0]).repeat(ints(info[1]))); })
}

Napi::Value Reverse(const Napi::CallbackInfo& info) {
  GUARD({ return handle(info.Env(), get(info[0]).flip(ints(info[1]))); })
}

// tfjs GatherV2 with batchDims = 0: x.shape[:axis] + indices.shape + x.shape[axis+1:].
Napi::Value Gather(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& idx = get(info[1]);
    int64_t ax = axis(int32(info, 2), x.dim());
    at::Tensor flat = idx.reshape({-1}).to(at::kLong);
    at::Tensor picked = at::index_select(x, ax, flat);
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + ax);
    shape.insert(shape.end(), idx.sizes().begin(), idx.sizes().end());
    shape.insert(shape.end(), x.sizes().begin() + ax + 1, x.sizes().end());
    return handle(info.Env(), picked.reshape(shape));
  })
}

Napi::Value OneHot(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor idx = get(info[0]).to(at::kLong);
    int64_t depth = int32(info, 1);
    double on = num(info, 2), off = num(info, 3);
    at::Tensor valid = idx.ge(0).logical_and(idx.lt(depth));
    at::Tensor hot = at::one_hot(at::where(valid, idx, at::zeros_like(idx)), depth).logical_and(valid.unsqueeze(-1));
    at::ScalarType type = scalarType(int32(info, 4));
    return handle(info.Env(), at::where(hot, at::full({}, on, at::kDouble), at::full({}, off, at::kDouble)).to(type));
  })
}

// --- the project's fused ops ------------------------------------------------------------------------------

void fillDropoutMask(float* m, int64_t n, double rate, int32_t seed);

// dropout(act(x·W + b)): x [rows, in], W [in, out], b [out]; activation 0 linear, 1 relu; dropout with dropout.ts's
// mask for [rows, out] when rate > 0.
Napi::Value Linear(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor y = at::addmm(get(info[2]), get(info[0]), get(info[1]));
    if (int32(info, 3) == A_RELU) y.relu_();
    double rate = num(info, 4);
    if (rate > 0) {
      at::Tensor mask = at::empty_like(y);
      fillDropoutMask(mask.data_ptr<float>(), mask.numel(), rate, int32(info, 5));
      y.mul_(mask);
    }
    return handle(info.Env(), y);
  })
}

// Gradients of Linear given y (its output) and dy: [dx, dW, db]. After ReLU and dropout, y > 0 exactly where the
// mask kept a positive pre-activation, so ∂z = ∂y · 1/(1 − rate) there and 0 elsewhere, without the mask.
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& w = get(info[1]);
    const at::Tensor& y = get(info[2]);
    at::Tensor dy = get(info[3]);
    bool relu = int32(info, 4) == A_RELU;
    double rate = num(info, 5);
    if (rate > 0 && !relu) {
      at::Tensor mask = at::empty_like(y);
      fillDropoutMask(mask.data_ptr<float>(), mask.numel(), rate, int32(info, 6));
      dy = dy * mask;
    }
    if (relu) dy = at::threshold_backward(dy, y, 0);
    if (rate > 0 && relu) dy.mul_(static_cast<float>(1 / (1 - rate)));
    at::Tensor dx = at::mm(dy, w.t());
    at::Tensor dw = at::mm(x.t(), dy);
    at::Tensor db = dy.sum(0);
    return handles(info.Env(), {dx, dw, db});
  })
}

// Adam (Kingma & Ba 2015) for every parameter in one call, in tfjs's order of float32 operations
// (tfjs-core adam_optimizer.js): m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g², w' = (m'/(1−β1ᵗ)) / (√(v'/(1−β2ᵗ)) + ε) · (−lr) + w.
// Inputs: n weights, n gradients, n first and n second moments, then the running β1ᵗ and β2ᵗ (0-d).
// Returns fresh [w'…, m'…, v'…] (nothing is updated in place: other tensors may share a weight's storage).
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  GUARD({
    std::vector<at::Tensor> all = tensors(info[0]);
    float beta1 = static_cast<float>(num(info, 1));
    float beta2 = static_cast<float>(num(info, 2));
    float oneMinusBeta1 = static_cast<float>(1 - num(info, 1));
    float oneMinusBeta2 = static_cast<float>(1 - num(info, 2));
    float lr = static_cast<float>(-num(info, 3));
    float eps = static_cast<float>(num(info, 4));
    size_t n = (all.size() - 2) / 4;
    if (all.size() != 4 * n + 2) throw std::runtime_error("AdamStep: expected 4n + 2 tensors");
    float oneMinusAcc1 = 1.0f - all[4 * n].item<float>();
    float oneMinusAcc2 = 1.0f - all[4 * n + 1].item<float>();
    std::vector<at::Tensor> out(3 * n);
    // One loop per parameter (ten ATen calls per parameter cost more than the arithmetic on these sizes); each
    // float32 operation rounds separately (built with -ffp-contract=off), as tfjs's kernels do.
    for (size_t p = 0; p < n; p++) {
      at::Tensor w = all[p].contiguous(), g = all[n + p].contiguous(), m = all[2 * n + p].contiguous(), v = all[3 * n + p].contiguous();
      at::Tensor w2 = at::empty_like(w), m2 = at::empty_like(m), v2 = at::empty_like(v);
      const float *wp = w.data_ptr<float>(), *gp = g.data_ptr<float>(), *mp = m.data_ptr<float>(), *vp = v.data_ptr<float>();
      float *wo = w2.data_ptr<float>(), *mo = m2.data_ptr<float>(), *vo = v2.data_ptr<float>();
      for (int64_t i = 0, size = w.numel(); i < size; i++) {
        float gi = gp[i];
        float mi = mp[i] * beta1 + gi * oneMinusBeta1;
        float vi = vp[i] * beta2 + (gi * gi) * oneMinusBeta2;
        float step = ((mi / oneMinusAcc1) / (std::sqrt(vi / oneMinusAcc2) + eps)) * lr;
        wo[i] = step + wp[i];
        mo[i] = mi;
        vo[i] = vi;
      }
      out[p] = w2;
      out[n + p] = m2;
      out[2 * n + p] = v2;
    }
    return handles(info.Env(), out);
  })
}

// One LSTM layer over a sequence (gates i, f, g, o as in src/models/layers/lstm-op.ts): x [B, T, C], wx [C, 4H],
// wh [H, 4H], b [4H]. Returns [output, hs [B, T, H], cs [B, T, H], tanh(cs), gates [B, T, 4H] (activated)]; the
// output is every hidden state [B, T, H] or the last [B, H]. Each step writes its results in place into the slices
// of those tensors (eight ATen calls a step, no copies).
Napi::Value LstmForward(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& wx = get(info[1]);
    const at::Tensor& wh = get(info[2]);
    const at::Tensor& b = get(info[3]);
    bool sequences = flag(info, 4);
    int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = wh.size(0);
    // Time-major pre-activations, so that each step's rows are contiguous.
    at::Tensor xp = at::addmm(b, x.transpose(0, 1).reshape({T * B, C}), wx).reshape({T, B, 4 * H});
    at::Tensor hs = at::empty({T, B, H}, x.options());
    at::Tensor cs = at::empty({T, B, H}, x.options());
    at::Tensor tcs = at::empty({T, B, H}, x.options());
    at::Tensor gates = at::empty({T, B, 4 * H}, x.options());
    for (int64_t t = 0; t < T; t++) {
      at::Tensor z = t == 0 ? xp[0] : at::addmm(xp[t], hs[t - 1], wh);
      at::Tensor a = gates[t];
      at::Tensor i = a.narrow(1, 0, H), f = a.narrow(1, H, H), g = a.narrow(1, 2 * H, H), o = a.narrow(1, 3 * H, H);
      at::Tensor ifGates = a.narrow(1, 0, 2 * H);
      at::sigmoid_out(ifGates, z.narrow(1, 0, 2 * H));
      at::tanh_out(g, z.narrow(1, 2 * H, H));
      at::sigmoid_out(o, z.narrow(1, 3 * H, H));
      at::Tensor c = cs[t];
      at::mul_out(c, i, g);
      if (t > 0) c.addcmul_(f, cs[t - 1]);
      at::Tensor tc = tcs[t];
      at::tanh_out(tc, c);
      at::Tensor h = hs[t];
      at::mul_out(h, o, tc);
    }
    auto batchMajor = [](const at::Tensor& t) { return t.transpose(0, 1).contiguous(); };
    at::Tensor out = sequences ? batchMajor(hs) : hs[T - 1].clone();
    return handles(info.Env(), {out, hs, cs, tcs, gates});
  })
}

// Backpropagation through time for LstmForward (its time-major hs, cs, tanh(cs), gates): [dx, dwx, dwh, db]. The
// elementwise part of a step is one loop; the recurrent product one matMul.
Napi::Value LstmBackward(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor dy = get(info[0]).contiguous();
    const at::Tensor& x = get(info[1]);
    const at::Tensor& wx = get(info[2]);
    const at::Tensor& wh = get(info[3]);
    const at::Tensor& hs = get(info[4]);
    const at::Tensor& cs = get(info[5]);
    const at::Tensor& tcs = get(info[6]);
    const at::Tensor& gates = get(info[7]);
    bool sequences = flag(info, 8);
    int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = wh.size(0);
    int64_t G = 4 * H;
    at::Tensor dz = at::empty({T, B, G}, x.options());
    at::Tensor dhNext = at::zeros({B, H}, x.options());
    at::Tensor dcNext = at::zeros({B, H}, x.options());
    at::Tensor whT = wh.t().contiguous();
    const float* dyp = dy.data_ptr<float>();
    const float* csp = cs.data_ptr<float>();
    const float* tcp = tcs.data_ptr<float>();
    const float* gp = gates.data_ptr<float>();
    float* dzp = dz.data_ptr<float>();
    float* dcp = dcNext.data_ptr<float>();
    for (int64_t t = T - 1; t >= 0; t--) {
      const float* dhp = dhNext.data_ptr<float>();
      for (int64_t n = 0; n < B; n++) {
        const float* a = gp + (t * B + n) * G;
        float* d = dzp + (t * B + n) * G;
        for (int64_t j = 0; j < H; j++) {
          int64_t k = (t * B + n) * H + j;
          float dh = dhp[n * H + j];
          if (sequences) dh += dyp[(n * T + t) * H + j];
          else if (t == T - 1) dh += dyp[n * H + j];
          float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
          float tc = tcp[k];
          float cPrev = t > 0 ? csp[k - B * H] : 0.0f;
          float dc = dh * o * (1.0f - tc * tc) + dcp[n * H + j];
          d[j] = dc * g * i * (1.0f - i);
          d[H + j] = dc * cPrev * f * (1.0f - f);
          d[2 * H + j] = dc * i * (1.0f - g * g);
          d[3 * H + j] = dh * tc * o * (1.0f - o);
          dcp[n * H + j] = dc * f;
        }
      }
      if (t > 0) dhNext = at::mm(dz[t], whT);
    }
    at::Tensor dZ = dz.reshape({T * B, G});
    at::Tensor xT = x.transpose(0, 1).reshape({T * B, C});
    at::Tensor hPrev = at::cat({at::zeros({1, B, H}, x.options()), hs.narrow(0, 0, T - 1)}, 0).reshape({T * B, H});
    at::Tensor dx = at::mm(dZ, wx.t()).reshape({T, B, C}).transpose(0, 1).contiguous();
    at::Tensor dwx = at::mm(xT.t(), dZ);
    at::Tensor dwh = at::mm(hPrev.t(), dZ);
    at::Tensor db = dZ.sum(0);
    return handles(info.Env(), {dx, dwx, dwh, db});
  })
}

// Causal dilated convolution on time-major rows (src/models/layers/causal-conv.ts): x [|S_in|·B, C] holds the
// steps `inSteps`, kernel [k·C, F] (rows by tap, oldest input first, then channel), bias [F]; the result holds the
// steps `outSteps`, [|S_out|·B, F]. Output step t, tap j reads input step t − (k−1−j)·d.
//
// Two ways, by how many steps are wanted (measured at [256, 24, 32], kernel 3, one thread):
// - most steps: the held steps placed on the full time axis (zeros elsewhere, which no output reads), at::conv1d
//   with left padding (k−1)·d and at::convolution_backward (oneDNN: 0.7 + 1.7 ms for every step);
// - a few steps (last-step pooling's upper blocks): im2col on whole row blocks, one gather building
//   [|S_out|·B, k·C] (source block 0 is zeros, for steps before the start) and one addmm, the gradient two matMuls
//   and an index_add (2.4 + 5.1 ms for every step, but proportional to the steps computed).
struct ConvGeometry {
  int64_t B, C, F, k, d, T, nIn, nOut;
  bool im2col;
  at::Tensor inIdx, outIdx;
  at::Tensor source;  // im2col: [nOut·k] source block per (output step, tap): 0 = zeros, p + 1 = held step p
};

ConvGeometry geometry(const at::Tensor& x, const at::Tensor& kernel, const Napi::Value& inSteps, const Napi::Value& outSteps, int64_t k, int64_t d) {
  std::vector<int64_t> in = ints(inSteps), out = ints(outSteps);
  ConvGeometry g;
  g.k = k;
  g.d = d;
  g.C = x.size(1);
  g.F = kernel.size(1);
  g.nIn = static_cast<int64_t>(in.size());
  g.nOut = static_cast<int64_t>(out.size());
  g.B = x.size(0) / g.nIn;
  g.T = 1 + std::max(in.back(), out.back());
  g.im2col = 3 * g.nOut < g.T;
  std::vector<int64_t> position(g.T, -1);
  for (int64_t p = 0; p < g.nIn; p++) position[in[p]] = p;
  std::vector<int64_t> source(g.nOut * k);
  for (int64_t m = 0; m < g.nOut; m++) {
    for (int64_t j = 0; j < k; j++) {
      int64_t t = out[m] - (k - 1 - j) * d;
      if (t >= 0 && position[t] < 0) throw std::runtime_error("causal conv: output step " + std::to_string(out[m]) + " reads step " + std::to_string(t) + ", which the input does not hold");
      source[m * k + j] = t < 0 ? 0 : position[t] + 1;
    }
  }
  g.source = at::tensor(source, at::kLong);
  g.inIdx = at::tensor(in, at::kLong);
  g.outIdx = at::tensor(out, at::kLong);
  return g;
}

/** im2col: [|S_out|·B, k·C], for every output row the k input rows its taps read, side by side. */
at::Tensor gatherColumns(const at::Tensor& x, const ConvGeometry& g) {
  at::Tensor blocks = at::cat({at::zeros({1, g.B, g.C}, x.options()), x.reshape({g.nIn, g.B, g.C})}, 0);
  return blocks.index_select(0, g.source).reshape({g.nOut, g.k, g.B, g.C}).permute({0, 2, 1, 3}).reshape({g.nOut * g.B, g.k * g.C});
}

/** conv1d: the held steps of x on the full, left-padded time axis, [B, C, (k−1)·d + T]. */
at::Tensor paddedInput(const at::Tensor& x, const ConvGeometry& g) {
  int64_t pad = (g.k - 1) * g.d;
  at::Tensor full = at::zeros({g.B, g.C, pad + g.T}, x.options());
  full.index_copy_(2, g.inIdx + pad, x.reshape({g.nIn, g.B, g.C}).permute({1, 2, 0}));
  return full;
}

at::Tensor convWeight(const at::Tensor& kernel, const ConvGeometry& g) {
  return kernel.reshape({g.k, g.C, g.F}).permute({2, 1, 0}).contiguous();  // [F, C, k]
}

Napi::Value CausalConv(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& kernel = get(info[1]);
    const at::Tensor& bias = get(info[2]);
    ConvGeometry g = geometry(x, kernel, info[3], info[4], int32(info, 5), int32(info, 6));
    at::Tensor y;
    if (g.im2col) {
      y = at::addmm(bias, gatherColumns(x, g), kernel);
    } else {
      at::Tensor full = at::conv1d(paddedInput(x, g), convWeight(kernel, g), bias, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{g.d}, 1);
      y = full.index_select(2, g.outIdx).permute({2, 0, 1}).reshape({g.nOut * g.B, g.F});
    }
    if (int32(info, 7) == A_RELU) y.relu_();
    return handle(info.Env(), y);
  })
}

// [dx, dkernel, dbias] of CausalConv given its output y and the upstream gradient dy.
Napi::Value CausalConvBackward(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& kernel = get(info[1]);
    const at::Tensor& y = get(info[2]);
    at::Tensor dy = get(info[3]);
    ConvGeometry g = geometry(x, kernel, info[4], info[5], int32(info, 6), int32(info, 7));
    if (int32(info, 8) == A_RELU) dy = at::threshold_backward(dy, y, 0);
    if (g.im2col) {
      at::Tensor dKernel = at::mm(gatherColumns(x, g).t(), dy);
      at::Tensor dBias = dy.sum(0);
      at::Tensor dColumns = at::mm(dy, kernel.t()).reshape({g.nOut, g.B, g.k, g.C}).permute({0, 2, 1, 3}).reshape({g.nOut * g.k, g.B, g.C});
      at::Tensor dBlocks = at::zeros({g.nIn + 1, g.B, g.C}, x.options()).index_add_(0, g.source, dColumns);
      return handles(info.Env(), {dBlocks.narrow(0, 1, g.nIn).reshape({g.nIn * g.B, g.C}), dKernel, dBias});
    }
    at::Tensor dFull = at::zeros({g.B, g.F, g.T}, x.options());
    dFull.index_copy_(2, g.outIdx, dy.reshape({g.nOut, g.B, g.F}).permute({1, 2, 0}));
    std::vector<int64_t> biasSizes = {g.F};
    auto grads = at::convolution_backward(dFull, paddedInput(x, g), convWeight(kernel, g), at::IntArrayRef(biasSizes), {1}, {0}, {g.d}, false, {0}, 1, {true, true, true});
    int64_t pad = (g.k - 1) * g.d;
    at::Tensor dx = std::get<0>(grads).index_select(2, g.inIdx + pad).permute({2, 0, 1}).reshape({g.nIn * g.B, g.C});
    at::Tensor dKernel = std::get<1>(grads).permute({2, 1, 0}).reshape({g.k * g.C, g.F});
    return handles(info.Env(), {dx, dKernel, std::get<2>(grads)});
  })
}

// The TCN's convolution on channels-first activations, as the model keeps them on torch (src/models/layers/tcn-conv.ts):
// x [B, C, T]; v [k·C, F] (rows by tap, oldest input first, then channel); g [F] or none; b [F]. The kernel is
// weight-normalized when g is given (Salimans & Kingma 2016: w = g · v / ‖v‖ per output channel), then
// y = dropout(act(causal conv(x) + b)), [B, F, T]: one constant pad and one at::conv1d, as PyTorch's own TCN runs it,
// with no layout copies around it. The dropout mask is dropout.ts's, drawn over the time-major [|S|·B, F] tensor of
// the steps S the portable TCN computes (its `maskSteps`) and applied to those steps; other steps are left unmasked
// (no output the model uses reads them). With a residual r [B, F, T], the block's output relu(y + r) comes too.
// The inverted-dropout mask of src/models/layers/dropout.ts, bit for bit, into m[0..n): mulberry32 (Tommy Ettinger,
// public domain) seeded with seed ^ 0x9e3779b9, two 16-bit uniforms per output, an element kept when its uniform is
// below round(65536·(1 − rate)); kept elements hold 1/(1 − rate) in float32, dropped ones 0. mulberry32 is a hash of
// a counter (its state after p + 1 outputs is seed' + (p + 1)·0x6d2b79f5), so each pair is computed from its index:
// a loop without a carried dependence, which the compiler vectorizes (built for AVX2 too, picked at run time).
__attribute__((target_clones("avx2", "default"), optimize("O3")))
void fillDropoutMask(float* m, int64_t n, double rate, int32_t seed) {
  double keep = 1 - rate;
  float scale = static_cast<float>(1 / keep);
  uint32_t threshold = static_cast<uint32_t>(std::floor(keep * 65536 + 0.5));
  uint32_t base = static_cast<uint32_t>(seed) ^ 0x9e3779b9u;
  int64_t pairs = n / 2;
  for (int64_t p = 0; p < pairs; p++) {
    uint32_t state = base + static_cast<uint32_t>(p + 1) * 0x6d2b79f5u;
    uint32_t t = (state ^ (state >> 15)) * (state | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    t ^= t >> 14;
    m[2 * p] = (t & 0xffffu) < threshold ? scale : 0.0f;
    m[2 * p + 1] = (t >> 16) < threshold ? scale : 0.0f;
  }
  if (n % 2 == 1) {
    uint32_t state = base + static_cast<uint32_t>(pairs + 1) * 0x6d2b79f5u;
    uint32_t t = (state ^ (state >> 15)) * (state | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    t ^= t >> 14;
    m[n - 1] = (t & 0xffffu) < threshold ? scale : 0.0f;
  }
}

// y [rows, T] (rows = B·F of a channels-first [B, F, T] tensor) times the mask fillDropoutMask draws for the
// time-major [|S|, B, F] tensor of the steps S, in place and without materializing the mask: the element of row j at
// the m-th masked step is the mask's element p = m·rows + j, the low (p even) or high (p odd) 16 bits of the hash of
// pair p / 2. The same bits and the same float products as drawing, transposing and multiplying (the old path, a
// third of a forward pass at the TCN's shapes). steps == nullptr: S = T, step m is t = m (a loop that vectorizes).
__attribute__((target_clones("avx2", "default"), optimize("O3")))
void multiplyDropoutMask(float* y, int64_t rows, int64_t T, const int64_t* steps, int64_t S, double rate, int32_t seed) {
  double keep = 1 - rate;
  float scale = static_cast<float>(1 / keep);
  uint32_t threshold = static_cast<uint32_t>(std::floor(keep * 65536 + 0.5));
  uint32_t base = static_cast<uint32_t>(seed) ^ 0x9e3779b9u;
  auto factor = [&](int64_t p) {
    uint32_t state = base + static_cast<uint32_t>((p >> 1) + 1) * 0x6d2b79f5u;
    uint32_t t = (state ^ (state >> 15)) * (state | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    t ^= t >> 14;
    uint32_t bits = (p & 1) != 0 ? (t >> 16) : (t & 0xffffu);
    return bits < threshold ? scale : 0.0f;
  };
  std::vector<float> factorBuffer(static_cast<size_t>(S));
  float* factors = factorBuffer.data();
  for (int64_t j = 0; j < rows; j++) {
    float* row = y + j * T;
    if (rows % 2 == 0) {
      // p = m·rows + j: the pair's state advances by (rows / 2)·0x6d2b79f5 a step and the half is j's parity.
      uint32_t state0 = base + static_cast<uint32_t>((j >> 1) + 1) * 0x6d2b79f5u;
      uint32_t stride = static_cast<uint32_t>(rows >> 1) * 0x6d2b79f5u;
      int shift = (j & 1) != 0 ? 16 : 0;
      auto evenFactor = [&](int32_t m) {
        uint32_t state = state0 + static_cast<uint32_t>(m) * stride;
        uint32_t t = (state ^ (state >> 15)) * (state | 1u);
        t ^= t + (t ^ (t >> 7)) * (t | 61u);
        t ^= t >> 14;
        return ((t >> shift) & 0xffffu) < threshold ? scale : 0.0f;
      };
      if (steps == nullptr) {
        for (int32_t m = 0; m < static_cast<int32_t>(S); m++) row[m] *= evenFactor(m);
      } else {
        // The factors drawn in a vectorized loop first; AVX2 has no scatter store.
        for (int32_t m = 0; m < static_cast<int32_t>(S); m++) factors[m] = evenFactor(m);
        for (int64_t m = 0; m < S; m++) row[steps[m]] *= factors[m];
      }
    } else if (steps == nullptr) {
      for (int64_t m = 0; m < S; m++) row[m] *= factor(m * rows + j);
    } else {
      for (int64_t m = 0; m < S; m++) row[steps[m]] *= factor(m * rows + j);
    }
  }
}

struct TcnAttrs {
  int64_t k, d;
  int32_t activation;
  double rate;
  int32_t seed;
  std::vector<int64_t> steps;
};

TcnAttrs tcnAttrs(const Napi::CallbackInfo& info, size_t at) {
  return {int32(info, at), int32(info, at + 1), int32(info, at + 2), num(info, at + 3), int32(info, at + 4), ints(info[at + 5])};
}

/** The conv1d weight [F, C, k] from v (and g: weight norm), with the column norms ‖v‖ when normalized. */
at::Tensor tcnWeight(const at::Tensor& v, const at::Tensor* g, int64_t k, at::Tensor* norm) {
  int64_t C = v.size(0) / k, F = v.size(1);
  at::Tensor w = v;
  if (g != nullptr) {
    *norm = v.square().sum(0).sqrt();
    w = v * (*g / *norm);
  }
  return w.reshape({k, C, F}).permute({2, 1, 0}).contiguous();
}

/** dropout.ts's mask for the steps a.steps, [|S|, B, F] in the time-major order it is drawn in. */
at::Tensor tcnMask(int64_t B, int64_t F, const TcnAttrs& a) {
  at::Tensor mask = at::empty({static_cast<int64_t>(a.steps.size()), B, F}, at::kFloat);
  fillDropoutMask(mask.data_ptr<float>(), mask.numel(), a.rate, a.seed);
  return mask;
}

/** Whether the mask covers every step 0..T−1. */
bool everyStep(const TcnAttrs& a, int64_t T) {
  bool every = static_cast<int64_t>(a.steps.size()) == T;
  for (int64_t m = 0; every && m < T; m++) every = a.steps[m] == m;
  return every;
}

at::Tensor stepIndex(const TcnAttrs& a, int64_t T) {
  for (int64_t t : a.steps) {
    if (t < 0 || t >= T) throw std::runtime_error("tcn conv: mask step " + std::to_string(t) + " outside 0.." + std::to_string(T - 1));
  }
  return at::tensor(a.steps, at::kLong);
}

Napi::Value TcnConv(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& v = get(info[1]);
    bool normalized = int32(info, 2) >= 0;
    const at::Tensor& b = get(info[3]);
    bool residual = int32(info, 4) >= 0;
    TcnAttrs a = tcnAttrs(info, 5);
    at::Tensor norm;
    at::Tensor w = tcnWeight(v, normalized ? &get(info[2]) : nullptr, a.k, &norm);
    int64_t pad = (a.k - 1) * a.d;
    at::Tensor y = at::conv1d(pad > 0 ? at::constant_pad_nd(x, {pad, 0}) : x, w, b, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{a.d}, 1);
    if (a.activation == A_RELU) y.relu_();
    if (a.rate > 0) {
      if (!y.is_contiguous()) y = y.contiguous();
      int64_t T = y.size(2);
      if (!everyStep(a, T)) stepIndex(a, T);  // range check
      multiplyDropoutMask(y.data_ptr<float>(), y.size(0) * y.size(1), T, everyStep(a, T) ? nullptr : a.steps.data(), static_cast<int64_t>(a.steps.size()), a.rate, a.seed);
    }
    if (!residual) return handles(info.Env(), {y});
    return handles(info.Env(), {(y + get(info[4])).relu_(), y});
  })
}

// Gradients of TcnConv given its output y (and the block's output `out` when there was a residual) and the upstream
// gradient (of y, or of out: then ∂r = ∂y = the upstream gradient where out > 0): [dx, dv, db], or [dx, dv, dg, db]
// when weight-normalized (∂g = (v·∂w)/‖v‖ and ∂v = (g/‖v‖)·∂w − g·(v·∂w)/‖v‖³ · v, per output channel), then ∂r.
// inputGradient 0 (the model's first layer in training, whose input is data): dx is not computed.
Napi::Value TcnConvBackward(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& v = get(info[1]);
    bool normalized = int32(info, 2) >= 0;
    const at::Tensor& y = get(info[3]);
    bool residual = int32(info, 4) >= 0;
    at::Tensor dy = residual ? at::threshold_backward(get(info[5]), get(info[4]), 0) : get(info[5]);
    TcnAttrs a = tcnAttrs(info, 6);
    bool inputGradient = int32(info, 12) != 0;
    const at::Tensor* g = normalized ? &get(info[2]) : nullptr;
    int64_t B = y.size(0), F = y.size(1), T = y.size(2);
    at::Tensor dz;
    if (a.rate > 0 && a.activation == A_RELU) {
      // After ReLU and the mask, y > 0 exactly where the mask kept a positive pre-activation: ∂z = ∂y · scale there
      // on the masked steps, ∂y where y > 0 on the others, 0 elsewhere. No need to draw the mask again.
      float scale = static_cast<float>(1 / (1 - a.rate));
      dz = at::threshold_backward(dy, y, 0);
      if (everyStep(a, T)) {
        dz.mul_(scale);
      } else {
        stepIndex(a, T);  // range check
        dz = dz.contiguous();
        float* rows = dz.data_ptr<float>();
        for (int64_t j = 0; j < B * F; j++) {
          for (int64_t t : a.steps) rows[j * T + t] *= scale;
        }
      }
    } else {
      dz = dy;
      if (a.rate > 0) {
        at::Tensor index = stepIndex(a, T);
        dz = dy.clone();
        dz.index_copy_(2, index, dz.index_select(2, index).mul_(tcnMask(B, F, a).permute({1, 2, 0})));
      }
      if (a.activation == A_RELU) dz = at::threshold_backward(dz, y, 0);
    }
    at::Tensor norm;
    at::Tensor w = tcnWeight(v, g, a.k, &norm);
    int64_t pad = (a.k - 1) * a.d;
    std::vector<int64_t> biasSizes = {F};
    auto grads = at::convolution_backward(dz.contiguous(), pad > 0 ? at::constant_pad_nd(x, {pad, 0}) : x, w, at::IntArrayRef(biasSizes), {1}, {0}, {a.d}, false, {0}, 1, {inputGradient, true, true});
    // Without an input gradient dx is an empty placeholder: the engine never reads it (its input needs none), and
    // would reject its shape if it did.
    at::Tensor dx = inputGradient ? std::get<0>(grads) : at::empty({0}, y.options());
    if (inputGradient && pad > 0) dx = dx.narrow(2, pad, x.size(2)).contiguous();
    at::Tensor dw = std::get<1>(grads).permute({2, 1, 0}).reshape({v.size(0), F});
    std::vector<at::Tensor> out = {dx, dw, std::get<2>(grads)};
    if (g != nullptr) {
      at::Tensor s = (v * dw).sum(0);
      out[1] = dw * (*g / norm) - v * (*g * s / (norm * norm * norm));
      out.insert(out.begin() + 2, s / norm);
    }
    if (residual) out.push_back(dy);
    return handles(info.Env(), out);
  })
}

// Layer normalization over the last axis with ε = 1e-5 (src/models/layers/layer-norm.ts): [y, mean, rstd].
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& x = get(info[0]);
    const at::Tensor& gamma = get(info[1]);
    const at::Tensor& beta = get(info[2]);
    auto out = at::native_layer_norm(x, {x.size(-1)}, gamma, beta, 1e-5);
    return handles(info.Env(), {std::get<0>(out), std::get<1>(out), std::get<2>(out)});
  })
}

// [dx, dgamma, dbeta] of LayerNorm.
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  GUARD({
    const at::Tensor& dy = get(info[0]);
    const at::Tensor& x = get(info[1]);
    const at::Tensor& mean = get(info[2]);
    const at::Tensor& rstd = get(info[3]);
    const at::Tensor& gamma = get(info[4]);
    const at::Tensor& beta = get(info[5]);
    auto out = at::native_layer_norm_backward(dy, x, {x.size(-1)}, mean, rstd, gamma, beta, {true, true, true});
    return handles(info.Env(), {std::get<0>(out), std::get<1>(out), std::get<2>(out)});
  })
}

// The inverted-dropout mask of src/models/layers/dropout.ts for (shape, rate, seed), bit for bit (fillDropoutMask).
Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
  GUARD({
    at::Tensor mask = at::empty(ints(info[0]), at::kFloat);
    fillDropoutMask(mask.data_ptr<float>(), mask.numel(), num(info, 1), int32(info, 2));
    return handle(info.Env(), mask);
  })
}

// --- run-time settings --------------------------------------------------------------------------------------

void setBlasThreads(int n) {
  // OpenBLAS keeps its own thread pool besides ATen's; Debian's libtorch calls BLAS through the generic
  // interface, so ATen's set_num_threads does not reach it.
  // It was loaded as a dependency of libtorch_cpu, so its symbols are not global: look it up by library.
  using SetThreads = void (*)(int);
  for (const char* lib : {"libblas.so.3", "libopenblas.so.0"}) {
    void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) continue;
    auto f = reinterpret_cast<SetThreads>(dlsym(handle, "openblas_set_num_threads"));
    dlclose(handle);
    if (f != nullptr) {
      f(n);
      return;
    }
  }
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  GUARD({
    int n = int32(info, 0);
    if (n < 1) throw std::runtime_error("threads must be ≥ 1");
    at::set_num_threads(n);
    setBlasThreads(n);
    return info.Env().Undefined();
  })
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("threads", at::get_num_threads());
  o.Set("parallel", at::get_parallel_info());
  o.Set("config", at::show_config());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  at::set_num_threads(1);
  setBlasThreads(1);
  // No autograd bookkeeping: tfjs records its own tape, gradients here are kernels like any other.
  c10::InferenceMode* guard = new c10::InferenceMode(true);
  (void)guard;
  // The calling convention's version: raised whenever a function's arguments change, so that JavaScript refuses an
  // addon built from an older checkout (src/engine/torch-backend.ts TORCH_ADDON_ABI) instead of misreading it.
  exports.Set("abi", Napi::Number::New(env, 3));
#define EXPORT(name) exports.Set(#name, Napi::Function::New(env, name))
  EXPORT(SetMeta);
  EXPORT(FromArray);
  EXPORT(ToArray);
  EXPORT(Free);
  EXPORT(Live);
  EXPORT(Clone);
  EXPORT(UnaryOp);
  EXPORT(BinaryOp);
  EXPORT(Cast);
  EXPORT(AddN);
  EXPORT(Select);
  EXPORT(ClipByValue);
  EXPORT(MatMul);
  EXPORT(FusedMatMul);
  EXPORT(ReduceOp);
  EXPORT(Softmax);
  EXPORT(LogSoftmax);
  EXPORT(Reshape);
  EXPORT(Transpose);
  EXPORT(Slice);
  EXPORT(StridedSlice);
  EXPORT(Concat);
  EXPORT(Split);
  EXPORT(Unpack);
  EXPORT(Stack);
  EXPORT(Pad);
  EXPORT(Fill);
  EXPORT(Range);
  EXPORT(Tile);
  EXPORT(Reverse);
  EXPORT(Gather);
  EXPORT(OneHot);
  EXPORT(Linear);
  EXPORT(LinearBackward);
  EXPORT(AdamStep);
  EXPORT(DropoutMask);
  EXPORT(CausalConv);
  EXPORT(CausalConvBackward);
  EXPORT(TcnConv);
  EXPORT(TcnConvBackward);
  EXPORT(LayerNorm);
  EXPORT(LayerNormBackward);
  EXPORT(LstmForward);
  EXPORT(LstmBackward);
  EXPORT(SetThreads);
  EXPORT(Info);
#undef EXPORT
  return exports;
}

}  // namespace

NODE_API_MODULE(tfjs_backend_torch, Init)

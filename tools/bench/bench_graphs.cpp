// Capture and replay of the per-set graphs (bench_graphs.h).
#include "bench_graphs.h"

#include "bench_cuda_check.h"

namespace mla::tools::bench {

GraphSet::~GraphSet() {
  for (cudaGraphExec_t e : exec_) (void)cudaGraphExecDestroy(e);
}

Status GraphSet::capture(int count, cudaStream_t stream, const std::function<Status(int)>& body) {
  for (int s = 0; s < count; ++s) {
    // Thread-local capture: a forbidden call from this thread during the
    // capture (a synchronisation, an allocation) fails it, as it would break
    // an application's graph.
    BENCH_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    const Status st = body(s);
    cudaGraph_t g = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &g);
    if (!st.ok()) {
      if (g) (void)cudaGraphDestroy(g);
      return st;
    }
    BENCH_CUDA(end);
    cudaGraphExec_t e = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&e, g, 0);
    (void)cudaGraphDestroy(g);
    BENCH_CUDA(inst);
    exec_.push_back(e);
    // Uploading now keeps the first replay's setup out of the warm-up.
    BENCH_CUDA(cudaGraphUpload(e, stream));
  }
  return Status::Ok();
}

Status GraphSet::launch(int i, cudaStream_t stream) const {
  return cuda_ok(cudaGraphLaunch(exec_[size_t(i) % exec_.size()], stream), "cudaGraphLaunch");
}

}  // namespace mla::tools::bench

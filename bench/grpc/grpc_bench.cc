// The "what a team would pick instead" reference for scripts/bench: a C++ gRPC server and client
// (Debian's libgrpc++-dev) serving practice.v1.BusinessService/GetBusinessInfo over `unix:`, with the
// same request and response messages practiced serves (generated from proto/ by scripts/bench).
// The server answers from a response built once (no store): the framework's own cost.
//   grpc_bench server PATH
//   grpc_bench client PATH CONNECTIONS SECONDS   -> prints "<calls/s> <p50 us> <p99 us>"
// Each client connection is its own channel (a distinct channel argument keeps gRPC from sharing one
// subchannel), driven by its own thread, one call at a time.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "practice/v1/business.grpc.pb.h"

using practice::v1::BusinessService;
using practice::v1::GetBusinessInfoRequest;
using practice::v1::GetBusinessInfoResponse;

namespace {

class Service final : public BusinessService::Service {
 public:
  Service() {
    auto* b = canned_.mutable_business_info();
    b->set_account_id("acct_bench");
    b->set_practice_name("Bench Practice");
    b->set_legal_name("Bench Practice LLC");
    b->set_npi("1234567893");
    b->set_taxonomy_code("101YM0800X");
    b->set_phone("6175550100");
    b->set_email("office@bench.example");
    b->set_version(1);
  }
  grpc::Status GetBusinessInfo(grpc::ServerContext*, const GetBusinessInfoRequest* req,
                               GetBusinessInfoResponse* resp) override {
    if (req->account_id() != canned_.business_info().account_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such account");
    }
    *resp = canned_;
    return grpc::Status::OK;
  }

 private:
  GetBusinessInfoResponse canned_;
};

int serve(const std::string& path) {
  Service service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server(builder.BuildAndStart());
  if (!server) {
    std::fprintf(stderr, "grpc_bench: cannot listen on %s\n", path.c_str());
    return 1;
  }
  std::fprintf(stderr, "grpc_bench: serving %s\n", path.c_str());
  server->Wait();
  return 0;
}

int client(const std::string& path, int connections, double seconds) {
  std::vector<std::vector<double>> lat(connections);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  auto until = std::make_shared<std::chrono::steady_clock::time_point>();
  for (int i = 0; i < connections; i++) {
    threads.emplace_back([&, i] {
      grpc::ChannelArguments args;
      args.SetInt("practice.bench.connection", i);
      auto channel = grpc::CreateCustomChannel("unix:" + path, grpc::InsecureChannelCredentials(), args);
      auto stub = BusinessService::NewStub(channel);
      GetBusinessInfoRequest req;
      req.set_account_id("acct_bench");
      GetBusinessInfoResponse resp;
      for (int w = 0; w < 100; w++) {  // warm up: connect and settle
        grpc::ClientContext ctx;
        if (!stub->GetBusinessInfo(&ctx, req, &resp).ok()) {
          std::fprintf(stderr, "grpc_bench: call failed\n");
          std::exit(1);
        }
      }
      ready++;
      while (!go.load()) std::this_thread::yield();
      auto& mine = lat[i];
      mine.reserve(1 << 20);
      while (true) {
        auto t0 = std::chrono::steady_clock::now();
        if (t0 >= *until) break;
        grpc::ClientContext ctx;
        grpc::Status s = stub->GetBusinessInfo(&ctx, req, &resp);
        auto t1 = std::chrono::steady_clock::now();
        if (!s.ok()) {
          std::fprintf(stderr, "grpc_bench: call failed: %s\n", s.error_message().c_str());
          std::exit(1);
        }
        mine.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  while (ready.load() < connections) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto start = std::chrono::steady_clock::now();
  *until = start + std::chrono::microseconds(static_cast<long>(seconds * 1e6));
  go = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  if (all.empty()) return 1;
  std::printf("%.0f %.1f %.1f\n", all.size() / elapsed, all[all.size() / 2], all[all.size() * 99 / 100]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "server") return serve(argv[2]);
  if (argc >= 5 && std::string(argv[1]) == "client") return client(argv[2], std::atoi(argv[3]), std::atof(argv[4]));
  std::fprintf(stderr, "usage: grpc_bench server PATH | client PATH CONNECTIONS SECONDS\n");
  return 64;
}

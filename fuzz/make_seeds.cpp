// Writes the seed corpora under fuzz/corpus/<target>/ from real inputs: the fixtures and
// test vectors in tests/, and values minted by the library itself (macaroons, L402 headers,
// signed records and Nostr events, encoded tensors and Blocks messages). Run it again after
// a format changes:  build-fuzz/fuzz/fuzz_make_seeds fuzz/corpus
// Output is deterministic apart from the signatures' nonces.
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "lightning/wallet/nwc/nip04.hpp"
#include "lightning/wallet/nwc/nip44.hpp"
#include "lightning/wallet/nwc/nostr_event.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "safetensors_writer/safetensors_writer.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/server_record.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/v1/blocks.pb.h"
#include "rpc/tensor_codec.hpp"

namespace fs = std::filesystem;
using namespace petalsln;
using nlohmann::json;

namespace {

fs::path g_out;
const std::string kFixtures = PETALSLN_FIXTURES_DIR;
const std::string kTests = PETALSLN_FIXTURES_DIR "/..";

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / name, std::ios::binary) << bytes;
}

std::string read(const std::string& path) { return util::read_file(path, 16u << 20); }

// The keys fuzz_nwc decrypts with: secret 0x11..11, peer = the generator's x coordinate.
lightning::NostrSecretKey nwc_secret() {
  lightning::NostrSecretKey k{};
  k.fill(0x11);
  return k;
}
lightning::XOnlyPublicKey nwc_peer() {
  lightning::NostrSecretKey one{};
  one[31] = 1;
  return lightning::xonly_public_key(one);
}

Macaroon l402_macaroon() {
  L402Identifier id;
  id.payment_hash.fill(0xab);
  id.token_id.fill(0x01);
  L402Terms terms;
  terms.model = "tiny";
  terms.peer = std::string(64, 'a');
  terms.block_begin = 0;
  terms.block_end = 2;
  terms.credit = 1000;
  terms.expires = 1'800'000'000;
  return mint_l402_macaroon("root key", id, terms, "https://example.com");
}

void lightning_seeds() {
  const json vectors = json::parse(read(kTests + "/lightning/bolt11_vectors.json"));
  int n = 0;
  for (const char* kind : {"valid", "invalid"}) {
    for (const auto& v : vectors[kind]) seed("bolt11", std::string(kind) + "-" + std::to_string(n++), v["invoice"]);
  }
  const std::string invoice = vectors["valid"][0]["invoice"];
  const Macaroon m = l402_macaroon();
  seed("macaroon", "l402-binary", "\x00" + m.serialize());
  seed("macaroon", "l402-base64", "\x01" + m.to_base64(MacaroonBase64::url_safe_unpadded));
  seed("macaroon", "bare-binary", std::string(1, '\0') + Macaroon::mint("k", "id").serialize());
  L402Challenge challenge{m, invoice};
  seed("l402", "challenge", challenge.to_header());
  seed("l402", "challenge-lsat", challenge.to_header(L402Scheme::lsat));
  seed("l402", "challenge-quoted", "L402 invoice = \"" + invoice + "\" , macaroon=\"" + m.to_base64() + "\", x=\"a\\\"b\"");
  L402Token token{m, {}};
  token.preimage.fill(0x42);
  seed("l402", "token", token.to_header());
  seed("l402", "token-lsat", token.to_header(L402Scheme::lsat));
}

void lnurl_seeds() {
  const std::string meta = json::array({json::array({"text/plain", "Pay bob"})}).dump();
  seed("lnurl", "pay-request", "\x00" + json{{"tag", "payRequest"}, {"callback", "https://example.com/cb"}, {"minSendable", 1000},
                                              {"maxSendable", 100000000}, {"metadata", meta}, {"commentAllowed", 64}}.dump());
  seed("lnurl", "pay-request-loopback",
       "\x04" + json{{"tag", "payRequest"}, {"callback", "http://127.0.0.1:8080/cb?x=1"}, {"minSendable", 1},
                     {"maxSendable", 1}, {"metadata", meta}}.dump());
  seed("lnurl", "error", std::string(1, '\0') + R"({"status":"ERROR","reason":"no"})");
  seed("lnurl", "invoice-reply", "\x01" + json{{"pr", "lnbcrt10n1p..."}, {"routes", json::array()}}.dump());
  seed("lnurl", "address", "\x02" + std::string("bob@example.com"));
  seed("lnurl", "address-loopback", "\x06" + std::string("alice@127.0.0.1:8080"));
}

void nwc_seeds() {
  const auto secret = nwc_secret();
  const auto key = lightning::nip44::conversation_key(secret, nwc_peer());
  const std::string body = R"({"result_type":"pay_invoice","result":{"preimage":"00"},"error":null})";
  lightning::NostrEvent e;
  e.kind = 23195;
  e.created_at = 1'700'000'000;
  e.tags = {{"e", std::string(64, '0')}, {"p", std::string(64, '1')}, {"encryption", "nip44_v2"}};
  e.content = lightning::nip44::encrypt(body, key);
  lightning::sign_event(e, secret);
  seed("nwc", "event-nip44", json::array({"EVENT", "sub", e.to_json()}).dump());
  e.tags.pop_back();
  e.content = lightning::nip04::encrypt(body, secret, nwc_peer());
  lightning::sign_event(e, secret);
  seed("nwc", "event-nip04", json::array({"EVENT", "sub", e.to_json()}).dump());
  seed("nwc", "ok", R"(["OK","00ff",false,"blocked: spam"])");
  seed("nwc", "closed", R"(["CLOSED","sub","error: \u0007 bell"])");
  seed("nwc", "eose-notice", R"(["EOSE","sub"])");
  const json vectors = json::parse(read(kTests + "/lightning/nip44_vectors.json"));
  int n = 0;
  for (const auto& v : vectors["v2"]["invalid"]["decrypt"]) seed("nwc", "nip44-invalid-" + std::to_string(n++), v["payload"]);
}

void uri_seeds() {
  // Byte 0: bit 0 = '+' as a space (NWC URIs); then the URI.
  seed("uri", "devnet", std::string("\x00") + "devnet:/tmp/devnet.db?account=alice");
  seed("uri", "rest", std::string("\x00") + "cln+rest://127.0.0.1:3010?rune=abc%2B%2Fdef&cert=/etc/x%20y.pem");
  seed("uri", "ipv6", std::string("\x00") + "https://user@[::1]:8443/lnurlp/bob?amount=1000#frag");
  seed("uri", "nwc", std::string("\x01") + "nostr+walletconnect://b889ff5b?relay=wss%3A%2F%2Frelay.example&secret=71a8c1&lud16=a+b%40c.d");
}

void swarm_seeds() {
  const NodeIdentity id = NodeIdentity::from_secret([] {
    std::array<std::uint8_t, 32> s{};
    s.fill(0x07);
    return s;
  }());
  ServerRecord r;
  r.peer_id = id.peer_id();
  r.endpoint = "127.0.0.1:31337";
  r.model = "tiny-llama3";
  r.block_begin = 1;
  r.block_end = 4;
  r.throughput = 1000;
  r.free_cache_tokens = 4096;
  r.price_msat = 10;
  r.lightning_address = "bob@example.com";
  r.public_name = "fuzz";
  r.version = "0.1.0";
  r.issued_at = 1'700'000'000;
  r.expires_at = r.issued_at + 180;
  seed("server_record", "valid", r.sign(id));
  r.expires_at = r.issued_at;
  seed("server_record", "tombstone", r.sign(id));
}

void text_seeds() {
  for (const char* model : {"tiny-llama3", "tiny-smollm2"}) {
    const std::string dir = kFixtures + "/" + model;
    seed("tokenizer", std::string(model) + "-json", std::string(1, '\0') + read(dir + "/tokenizer.json"));
    seed("model_config", model, read(dir + "/config.json"));
    seed("chat_template", std::string(model) + "-template", std::string(1, '\0') + read(dir + "/chat_template.jinja") +
                                                                 std::string(1, '\0') + "<|begin_of_text|>" +
                                                                 std::string(1, '\0') + "<|eot_id|>");
  }
  seed("tokenizer", "prompt", "\x01<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nH\xc3\xa9llo, world! 1234 \xf0\x9f\x98\x80<|eot_id|>");
  const std::string nul(1, '\0');
  seed("chat_template", "chat-llama3", "\x01system" + nul + "Be brief." + nul + "user" + nul + "Hi " + nul + "assistant" + nul + "Yo");
  seed("chat_template", "chat-chatml", "\x03user" + nul + "<|im_start|>x" + nul + "assistant" + nul + "ok");
}

void safetensors_seeds() {
  SafetensorsWriter w;
  w.add("a", StorageDType::f32, {2, 2}, std::string(16, '\1'));
  w.add("b", StorageDType::bf16, {3}, std::string(6, '\2'));
  w.add("c", StorageDType::f16, {0}, "");
  const std::string path = (g_out / "tmp.safetensors").string();
  w.write(path, {{"format", "pt"}});
  seed("safetensors", "small", read(path));
  fs::remove(path);
  // The fixture's header with its data cut off (refused, but a real header to mutate).
  const std::string model = read(kFixtures + "/tiny-llama3/model.safetensors");
  std::uint64_t len = 0;
  std::memcpy(&len, model.data(), 8);
  seed("safetensors", "tiny-llama3-header", model.substr(0, 8 + len));
  seed("safetensors", "index-json", read(kFixtures + "/tiny-smollm2/model.safetensors.index.json"));
}

std::string tensor_bytes(std::int64_t batch, std::int64_t seq, v1::DType dtype) {
  v1::Tensor t;
  rpc::encode_tensor(torch::randn({batch, seq, 64}) * 0.5, dtype, &t);
  return t.SerializeAsString();
}

std::string with_length(const std::string& message) {
  return std::string{static_cast<char>(message.size() >> 8), static_cast<char>(message.size() & 0xff)} + message;
}

void rpc_seeds() {
  torch::manual_seed(1);
  for (const auto dtype : {v1::DTYPE_F32, v1::DTYPE_F16, v1::DTYPE_BF16}) {
    v1::Tensor t;
    rpc::encode_tensor(torch::randn({2, 3, 8}), dtype, &t);
    // hidden 8 = 1 + 7 % 16; batch 2 = 1 + (0x09 & 3); seq 3 = 1 + (0x09 >> 2).
    seed("tensor_codec", "t-" + std::to_string(dtype), std::string("\x07\x09", 2) + t.SerializeAsString());
  }
  v1::InferenceRequest open;
  auto* o = open.mutable_open();
  o->set_block_begin(1);
  o->set_block_end(4);
  o->set_max_length(16);
  o->set_batch(1);
  std::string session = with_length(open.SerializeAsString());
  for (int pos = 0; pos < 3; ++pos) {
    v1::InferenceRequest step;
    step.mutable_step()->mutable_hidden()->ParseFromString(tensor_bytes(1, pos == 0 ? 2 : 1, v1::DTYPE_F32));
    step.mutable_step()->set_position(pos == 0 ? 0 : static_cast<std::uint64_t>(pos + 1));
    session += with_length(step.SerializeAsString());
  }
  seed("block_server", "session", std::string(1, '\0') + session);
  v1::InferenceRequest auth;
  auth.mutable_authorize()->set_authorization("L402 AgEEbHNhdAJC:" + std::string(64, '0'));
  // Flag byte: bit 0 also sends the first message to Forward, bit 1 picks the priced server.
  seed("block_server", "open-authorize", std::string(1, '\0') + with_length(open.SerializeAsString()) +
                                             with_length(auth.SerializeAsString()));
  seed("block_server", "priced-open-authorize", "\x02" + with_length(open.SerializeAsString()) +
                                                    with_length(auth.SerializeAsString()) + session.substr(with_length(open.SerializeAsString()).size()));
  seed("block_server", "priced-session", "\x02" + session);
  v1::ForwardRequest forward;
  forward.set_block_begin(2);
  forward.set_block_end(3);
  forward.mutable_hidden()->ParseFromString(tensor_bytes(2, 2, v1::DTYPE_BF16));
  seed("block_server", "forward", "\x01" + with_length(forward.SerializeAsString()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds CORPUS_DIR (e.g. fuzz/corpus)\n";
    return 2;
  }
  g_out = argv[1];
  lightning_seeds();
  lnurl_seeds();
  nwc_seeds();
  uri_seeds();
  swarm_seeds();
  text_seeds();
  safetensors_seeds();
  rpc_seeds();
  std::cout << "seeds written under " << g_out << "\n";
  return 0;
}

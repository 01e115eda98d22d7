// NodeIdentity: BIP-340 test vectors, key files and their permissions.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <string>

#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"

using petalsln::Digest32;
using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::NodeIdentity;
using petalsln::PeerId;
using petalsln::SchnorrSignature;
using petalsln::test::TempDir;

namespace {

// BIP-340's published test vectors (bip-0340/test-vectors.csv, indices 0-14: 32-byte messages).
struct Vector {
  int index;
  const char* secret;  // "" when the vector has no secret key
  const char* pubkey;
  const char* aux;
  const char* msg;
  const char* sig;
  bool valid;
};

const Vector kVectors[] = {
    {0, "0000000000000000000000000000000000000000000000000000000000000003",
     "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0",
     true},  // valid
    {1, "B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "0000000000000000000000000000000000000000000000000000000000000001",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A",
     true},  // valid
    {2, "C90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B14E5C9",
     "DD308AFEC5777E13121FA72B9CC1B7CC0139715309B086C960E18FD969774EB8",
     "C87AA53824B4D7AE2EB035A2B5BBBCCC080E76CDC6D1692C4B0B62D798E6D906",
     "7E2D58D8B3BCDF1ABADEC7829054F90DDA9805AAB56C77333024B9D0A508B75C",
     "5831AAEED7B44BB74E5EAB94BA9D4294C49BCF2A60728D8B4C200F50DD313C1BAB745879A5AD954A72C45A91C3A51D3C7ADEA98D82F8481E0E1E03674A6F3FB7",
     true},  // valid
    {3, "0B432B2677937381AEF05BB02A66ECD012773062CF3FA2549E44F58ED2401710",
     "25D1DFF95105F5253C4022F628A996AD3A0D95FBF21D468A1B33F8C160D8F517",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
     "7EB0509757E246F19449885651611CB965ECC1A187DD51B64FDA1EDC9637D5EC97582B9CB13DB3933705B32BA982AF5AF25FD78881EBB32771FC5922EFC66EA3",
     true},  // test fails if msg is reduced modulo p or n
    {4, "",
     "D69C3509BB99E412E68B0FE8544E72837DFA30746D8BE2AA65975F29D22DC7B9",
     "",
     "4DF3C3F68FCC83B27E9D42C90431A72499F17875C81A599B566C9889B9696703",
     "00000000000000000000003B78CE563F89A0ED9414F5AA28AD0D96D6795F9C6376AFB1548AF603B3EB45C9F8207DEE1060CB71C04E80F593060B07D28308D7F4",
     true},  // valid
    {5, "",
     "EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B",
     false},  // public key not on the curve
    {6, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "FFF97BD5755EEEA420453A14355235D382F6472F8568A18B2F057A14602975563CC27944640AC607CD107AE10923D9EF7A73C643E166BE5EBEAFA34B1AC553E2",
     false},  // has_even_y(R) is false
    {7, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "1FA62E331EDBC21C394792D2AB1100A7B432B013DF3F6FF4F99FCB33E0E1515F28890B3EDB6E7189B630448B515CE4F8622A954CFE545735AAEA5134FCCDB2BD",
     false},  // negated message
    {8, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769961764B3AA9B2FFCB6EF947B6887A226E8D7C93E00C5ED0C1834FF0D0C2E6DA6",
     false},  // negated s value
    {9, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "0000000000000000000000000000000000000000000000000000000000000000123DDA8328AF9C23A94C1FEECFD123BA4FB73476F0D594DCB65C6425BD186051",
     false},  // sG - eP is infinite. Test fails in single verification if has_even_y(inf) is defined as true and x(inf) as 0
    {10, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "00000000000000000000000000000000000000000000000000000000000000017615FBAF5AE28864013C099742DEADB4DBA87F11AC6754F93780D5A1837CF197",
     false},  // sG - eP is infinite. Test fails in single verification if has_even_y(inf) is defined as true and x(inf) as 1
    {11, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "4A298DACAE57395A15D0795DDBFD1DCB564DA82B0F269BC70A74F8220429BA1D69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B",
     false},  // sig[0:32] is not an X coordinate on the curve
    {12, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B",
     false},  // sig[0:32] is equal to field size
    {13, "",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
     false},  // sig[32:64] is equal to curve order
    {14, "",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC30",
     "",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B",
     false},  // public key is not a valid X coordinate because it exceeds the field size

};

}  // namespace

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> hex_array(const char* hex) {
  std::array<std::uint8_t, N> out{};
  petalsln::util::from_hex_into(hex, out.data(), N);
  return out;
}

mode_t file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

Digest32 digest_of(std::uint8_t fill) {
  Digest32 d{};
  d.fill(fill);
  return d;
}

}  // namespace

TEST_CASE("BIP-340 vectors: verification results match the published ones") {
  for (const Vector& v : kVectors) {
    CAPTURE(v.index);
    const bool ok = NodeIdentity::verify(hex_array<32>(v.pubkey), hex_array<32>(v.msg), hex_array<64>(v.sig));
    CHECK(ok == v.valid);
  }
}

TEST_CASE("BIP-340 vectors: signing with the vectors' aux_rand gives their signatures and keys") {
  for (const Vector& v : kVectors) {
    if (std::string(v.secret).empty()) continue;
    CAPTURE(v.index);
    const NodeIdentity id = NodeIdentity::from_secret(hex_array<32>(v.secret));
    CHECK(id.peer_id() == hex_array<32>(v.pubkey));
    CHECK(id.sign_with_aux(hex_array<32>(v.msg), hex_array<32>(v.aux)) == hex_array<64>(v.sig));
  }
}

TEST_CASE("sign() uses fresh randomness and its signatures verify; other keys and messages fail") {
  const NodeIdentity a = NodeIdentity::generate();
  const NodeIdentity b = NodeIdentity::generate();
  CHECK(a.peer_id() != b.peer_id());
  const SchnorrSignature s1 = a.sign(digest_of(7));
  const SchnorrSignature s2 = a.sign(digest_of(7));
  CHECK(s1 != s2);  // aux randomness differs
  CHECK(NodeIdentity::verify(a.peer_id(), digest_of(7), s1));
  CHECK(NodeIdentity::verify(a.peer_id(), digest_of(7), s2));
  CHECK_FALSE(NodeIdentity::verify(b.peer_id(), digest_of(7), s1));
  CHECK_FALSE(NodeIdentity::verify(a.peer_id(), digest_of(8), s1));
  SchnorrSignature flipped = s1;
  flipped[40] ^= 0x01;
  CHECK_FALSE(NodeIdentity::verify(a.peer_id(), digest_of(7), flipped));
  CHECK(a.peer_id_hex().size() == 64);
  CHECK(a.peer_id_hex().find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("from_secret refuses zero and out-of-range keys") {
  CHECK_THROWS_AS(NodeIdentity::from_secret(std::array<std::uint8_t, 32>{}), Error);
  // The group order n itself is not a valid key.
  CHECK_THROWS_AS(NodeIdentity::from_secret(
                      hex_array<32>("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")),
                  Error);
}

TEST_CASE("clone() signs as the original; a moved-from identity cannot sign") {
  NodeIdentity a = NodeIdentity::generate();
  const NodeIdentity copy = a.clone();
  CHECK(copy.peer_id() == a.peer_id());
  CHECK(NodeIdentity::verify(a.peer_id(), digest_of(1), copy.sign(digest_of(1))));
  NodeIdentity moved = std::move(a);
  CHECK(moved.peer_id() == copy.peer_id());
  CHECK_THROWS_AS(a.sign(digest_of(1)), Error);  // NOLINT(bugprone-use-after-move): wiped on move
}

TEST_CASE("load_or_create creates a 0600 key file once and reloads the same identity") {
  TempDir dir;
  const std::string path = dir.file("node.key");
  const NodeIdentity first = NodeIdentity::load_or_create(path);
  CHECK(file_mode(path) == 0600);
  const std::string text = petalsln::test::slurp(path);
  CHECK(text.size() == 65);
  CHECK(text.back() == '\n');
  const NodeIdentity again = NodeIdentity::load_or_create(path);
  CHECK(again.peer_id() == first.peer_id());
  CHECK(NodeIdentity::verify(first.peer_id(), digest_of(3), again.sign(digest_of(3))));
  CHECK(petalsln::test::slurp(path) == text);  // reloading never rewrites the file
}

TEST_CASE("load_or_create refuses a key file readable by group or others") {
  TempDir dir;
  const std::string path = dir.file("node.key");
  NodeIdentity::load_or_create(path);
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  try {
    NodeIdentity::load_or_create(path);
    FAIL("a 0644 key file was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    const std::string msg = e.what();
    CHECK(msg.find("0644") != std::string::npos);
    CHECK(msg.find("chmod 600") != std::string::npos);
  }
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  CHECK_THROWS_AS(NodeIdentity::load_or_create(path), Error);
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  CHECK_NOTHROW(NodeIdentity::load_or_create(path));
}

TEST_CASE("load_or_create refuses malformed key files without quoting them") {
  TempDir dir;
  const std::string path = dir.file("node.key");
  const std::string secret_hex = "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef";
  const char* bad_contents[] = {
      "",                                                                      // empty
      "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cf\n",      // short
      "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef00\n",  // long
      "z7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef\n",    // not hex
      "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef\n\n",  // extra line
      "0000000000000000000000000000000000000000000000000000000000000000\n",    // zero key
  };
  for (const char* content : bad_contents) {
    CAPTURE(content);
    ::unlink(path.c_str());
    petalsln::test::write_file(path, content);
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    try {
      NodeIdentity::load_or_create(path);
      FAIL("malformed key file accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
      CHECK(std::string(e.what()).find("b7e151") == std::string::npos);
    }
  }
  // The same secret, well formed (with or without the final newline), loads.
  petalsln::test::write_file(path, secret_hex);
  CHECK(NodeIdentity::load_or_create(path).peer_id() ==
        hex_array<32>("DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659"));
}

TEST_CASE("load_or_create reports an unusable path as an io error") {
  TempDir dir;
  try {
    NodeIdentity::load_or_create(dir.file("missing-dir/node.key"));
    FAIL("created a key in a missing directory");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
  }
}

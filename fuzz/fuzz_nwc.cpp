// Fuzzes what a Nostr Wallet Connect client reads from a relay (anyone can publish there):
// relay messages, the events inside them (NIP-01 parse and verify), and the encrypted
// contents of responses (NIP-44 v2 and NIP-04 decryption).
#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "lightning/wallet/nwc/nip04.hpp"
#include "lightning/wallet/nwc/nip44.hpp"
#include "lightning/wallet/nwc/nostr_event.hpp"
#include "lightning/wallet/nwc/nostr_relay.hpp"

namespace {

using namespace petalsln;
using namespace petalsln::lightning;

void read_event(const nlohmann::json& object) {
  fuzz::expect_rejection([&] {
    const NostrEvent e = parse_event(object);
    (void)verify_event(e);
    (void)e.tag_value("e");
    (void)e.tag_value("encryption");
    // serialize_for_id() may refuse a string that is not UTF-8 (it throws Error then).
    (void)compute_event_id(e);
  });
}

void decrypt_content(std::string_view content) {
  // Fixed keys: the MAC stops NIP-44 early, but the framing, base64 and length checks before
  // it (and NIP-04's whole parse and padding check) run on hostile bytes.
  static const NostrSecretKey secret = [] {
    NostrSecretKey k{};
    k.fill(0x11);
    return k;
  }();
  static const XOnlyPublicKey peer = [] {
    // The x coordinate of the generator point: a valid x-only key.
    XOnlyPublicKey p{0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07,
                     0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98};
    return p;
  }();
  static const nip44::ConversationKey key = nip44::conversation_key(secret, peer);
  fuzz::expect_rejection([&] { (void)nip44::decrypt(content, key); });
  fuzz::expect_rejection([&] { (void)nip04::decrypt(content, secret, peer); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const RelayMessage m = parse_relay_message(text);
  if (m.type == RelayMessage::Type::event) {
    read_event(m.event);
    const auto content = m.event.find("content");
    if (content != m.event.end() && content->is_string()) decrypt_content(content->get_ref<const std::string&>());
  } else {
    // Inputs that are not relay messages still exercise the decryptors directly.
    decrypt_content(text);
  }
  return 0;
}

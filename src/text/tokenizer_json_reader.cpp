#include "text/tokenizer_json_reader.hpp"

#include <cstdint>
#include <limits>

#include "petalsln/util/error.hpp"

namespace petalsln::text {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(const std::string& what) { throw Error(ErrorCode::invalid_format, "tokenizer.json: " + what); }

// A SAX handler that builds the JSON tree like nlohmann's own DOM parser, except under
// model.vocab and model.merges, whose entries it collects into the document's vectors.
class Reader final : public nlohmann::json_sax<json> {
 public:
  explicit Reader(TokenizerJsonDocument& doc) : doc_(doc) {}

  bool null() override { return scalar(nullptr, "null"); }
  bool boolean(bool v) override { return scalar(v, "a boolean"); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::vocab) return vocab_id(v);
    return scalar(v, "a number");
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::vocab) {
      constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      return vocab_id(v > kMax ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(v));
    }
    return scalar(v, "a number");
  }
  bool number_float(number_float_t v, const string_t& /*text*/) override { return scalar(v, "a fractional number"); }
  bool binary(binary_t& v) override { return scalar(std::move(v), "binary data"); }

  bool string(string_t& v) override {
    if (mode_ == Mode::merges) return merge_string(v);
    return scalar(std::move(v), "a string");
  }

  bool start_object(std::size_t /*size*/) override {
    if (mode_ != Mode::tree) nested("an object");
    if (at_model_field("vocab")) {
      enter(Mode::vocab, json::value_t::object);
      doc_.has_vocab = true;
      doc_.vocab.clear();
      return true;
    }
    push(json::value_t::object);
    return true;
  }

  bool key(string_t& k) override {
    if (mode_ == Mode::vocab) {
      vocab_key_ = std::move(k);
      return true;
    }
    keys_[stack_.size() - 1] = k;
    object_element_ = &(*stack_.back())[k];
    return true;
  }

  bool end_object() override {
    if (mode_ == Mode::vocab) {
      mode_ = Mode::tree;
      return true;
    }
    pop();
    return true;
  }

  bool start_array(std::size_t /*size*/) override {
    if (mode_ == Mode::merges && pair_depth_ == 0) {
      pair_depth_ = 1;
      pair_.clear();
      return true;
    }
    if (mode_ != Mode::tree) nested("an array");
    if (at_model_field("merges")) {
      enter(Mode::merges, json::value_t::array);
      doc_.has_merges = true;
      doc_.merges.clear();
      return true;
    }
    push(json::value_t::array);
    return true;
  }

  bool end_array() override {
    if (mode_ == Mode::merges) {
      if (pair_depth_ == 1) return end_pair();
      mode_ = Mode::tree;
      return true;
    }
    pop();
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    throw Error(ErrorCode::invalid_format, std::string("tokenizer.json is not valid JSON: ") + ex.what());
  }

 private:
  enum class Mode { tree, vocab, merges };

  // True when the container about to start is root["model"][name].
  bool at_model_field(const char* name) const {
    return stack_.size() == 2 && keys_[0] == "model" && stack_[1]->is_object() && keys_[1] == name;
  }

  template <typename Value>
  json* place(Value&& v) {
    if (stack_.empty()) {
      doc_.root = json(std::forward<Value>(v));
      return &doc_.root;
    }
    if (stack_.back()->is_array()) {
      stack_.back()->emplace_back(std::forward<Value>(v));
      return &stack_.back()->back();
    }
    *object_element_ = json(std::forward<Value>(v));
    return object_element_;
  }

  template <typename Value>
  bool scalar(Value&& v, const char* what) {
    if (mode_ == Mode::vocab) malformed("model.vocab[\"" + vocab_key_ + "\"] is " + what + ", not an integer id");
    if (mode_ == Mode::merges) bad_merge();
    place(std::forward<Value>(v));
    return true;
  }

  void push(json::value_t type) {
    stack_.push_back(place(type));
    keys_.emplace_back();
  }
  void pop() {
    stack_.pop_back();
    keys_.pop_back();
  }
  // Leaves an empty container in the tree where the captured one was.
  void enter(Mode mode, json::value_t placeholder) {
    place(placeholder);
    mode_ = mode;
  }

  [[noreturn]] void nested(const char* what) {
    if (mode_ == Mode::vocab) malformed("model.vocab[\"" + vocab_key_ + "\"] is " + std::string(what) + ", not an integer id");
    bad_merge();
  }

  bool vocab_id(std::int64_t id) {
    if (id < 0) malformed("model.vocab[\"" + vocab_key_ + "\"] has a negative id (" + std::to_string(id) + ")");
    if (id > std::numeric_limits<TokenId>::max()) {
      malformed("model.vocab[\"" + vocab_key_ + "\"] has an id that does not fit in 32 bits");
    }
    doc_.vocab.emplace_back(std::move(vocab_key_), static_cast<TokenId>(id));
    return true;
  }

  bool merge_string(string_t& v) {
    if (pair_depth_ == 1) {
      if (pair_.size() == 2) bad_merge();
      pair_.push_back(std::move(v));
      return true;
    }
    // The older form: "left right", split at its only space.
    const auto space = v.find(' ');
    if (space == std::string::npos || v.find(' ', space + 1) != std::string::npos) {
      malformed("model.merges[" + std::to_string(doc_.merges.size()) + "] (\"" + v +
                "\") must be two tokens separated by one space");
    }
    doc_.merges.emplace_back(v.substr(0, space), v.substr(space + 1));
    return true;
  }

  bool end_pair() {
    pair_depth_ = 0;
    if (pair_.size() != 2) bad_merge();
    doc_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
    return true;
  }

  [[noreturn]] void bad_merge() const {
    malformed("model.merges[" + std::to_string(doc_.merges.size()) +
              "] must be a [\"left\", \"right\"] pair or a \"left right\" string");
  }

  TokenizerJsonDocument& doc_;
  std::vector<json*> stack_;
  std::vector<std::string> keys_;  // the current key of each open object
  json* object_element_ = nullptr;
  Mode mode_ = Mode::tree;
  std::string vocab_key_;
  int pair_depth_ = 0;
  std::vector<std::string> pair_;
};

}  // namespace

TokenizerJsonDocument read_tokenizer_json(std::string_view text) {
  TokenizerJsonDocument doc;
  Reader reader(doc);
  json::sax_parse(text, &reader);
  return doc;
}

}  // namespace petalsln::text

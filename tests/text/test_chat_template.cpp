// Chat templates: recognition of known templates and byte-exact rendering against transformers.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "petalsln/text/chat_template.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"
#include "text/chat_template_jinja.hpp"

using petalsln::ChatMessage;
using petalsln::ChatTemplate;
using petalsln::ChatTemplateFamily;
using petalsln::Error;
using petalsln::ErrorCode;

namespace {

namespace fs = std::filesystem;

struct RealTemplateCase {
  const char* name;
  ChatTemplateFamily family;
  const char* bos;
  const char* eos;
  const char* text;
  std::vector<std::string> rendered;  // one per kConversations entry
};

// Generated with jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True),
// the environment transformers' apply_chat_template uses, from the templates as published.
// Conversations rendered by every case below (see kRealTemplates).
const std::vector<std::vector<ChatMessage>> kConversations = {
    {{"user", "Hello!"}},
    {{"system", "  Be brief.\n"}, {"user", "Hi"}, {"assistant", " Hello. "}, {"user", "Tell me a joke \U0001F642"}},
    {{"system", "Only a system message"}},
    {{"user", "\u3000 spaced\u00A0 \t\u2028"}},
    {{"user", "a"}, {"system", " mid system "}, {"assistant", "b\n"}},
};
const bool kGenerationPrompt[] = {true, false, true, true, true};

// Published templates, with what transformers' Jinja environment renders for each conversation.
const RealTemplateCase kRealTemplates[] = {
    {"Qwen2.5", ChatTemplateFamily::chatml, "", "<|im_end|>",
     R"tpl({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)tpl",
     {
         "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\n  Be brief.\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nTell me a joke \U0001F642<|im_end|>\n",
         "<|im_start|>system\nOnly a system message<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n\u3000 spaced\u00A0 \t\u2028<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>system\n mid system <|im_end|>\n<|im_start|>assistant\nb\n<|im_end|>\n<|im_start|>assistant\n",
     }},
    {"Llama 3.1", ChatTemplateFamily::llama3, "<|begin_of_text|>", "<|eot_id|>",
     R"tpl({{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)tpl",
     {
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke \U0001F642<|eot_id|>",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nOnly a system message<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nspaced<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nmid system<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nb<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     }},
    {"ChatML", ChatTemplateFamily::chatml, "<s>", "</s>",
     R"tpl({% for message in messages %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %})tpl",
     {
         "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\n  Be brief.\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nTell me a joke \U0001F642<|im_end|>\n",
         "<|im_start|>system\nOnly a system message<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>user\n\u3000 spaced\u00A0 \t\u2028<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>user\na<|im_end|>\n<|im_start|>system\n mid system <|im_end|>\n<|im_start|>assistant\nb\n<|im_end|>\n<|im_start|>assistant\n",
     }},
    {"Llama 3", ChatTemplateFamily::llama3, "<|begin_of_text|>", "<|eot_id|>",
     R"tpl({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})tpl",
     {
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke \U0001F642<|eot_id|>",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nOnly a system message<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nspaced<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\na<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nmid system<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nb<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     }},
    {"Llama 3 (first release)", ChatTemplateFamily::llama3, "<|begin_of_text|>", "<|eot_id|>",
     R"tpl({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }})tpl",
     {
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke \U0001F642<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nOnly a system message<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nspaced<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
         "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\na<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nmid system<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nb<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     }},
    {"ChatML with a default system prompt (SmolLM2 style)", ChatTemplateFamily::chatml, "<|im_start|>", "<|im_end|>",
     R"tpl({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})tpl",
     {
         "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\n  Be brief.\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nTell me a joke \U0001F642<|im_end|>\n",
         "<|im_start|>system\nOnly a system message<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n\u3000 spaced\u00A0 \t\u2028<|im_end|>\n<|im_start|>assistant\n",
         "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>system\n mid system <|im_end|>\n<|im_start|>assistant\nb\n<|im_end|>\n<|im_start|>assistant\n",
     }},
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

// A scratch model folder, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("petalsln-chat-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
  }

 private:
  fs::path path_;
};

// Runs @p f, which must throw petalsln::Error; returns it for inspection.
template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected petalsln::Error");
  return Error(ErrorCode::internal, "unreachable");
}

std::vector<ChatMessage> messages_of(const nlohmann::json& list) {
  std::vector<ChatMessage> out;
  for (const auto& m : list) out.push_back({m.at("role"), m.at("content")});
  return out;
}

const std::string kSmolTemplate =
    read_text(petalsln::test::fixture_dir("tiny-smollm2") + "/chat_template.jinja");
const std::string kLlamaTemplate =
    read_text(petalsln::test::fixture_dir("tiny-llama3") + "/chat_template.jinja");

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("chat template: fixtures render exactly as transformers did") {
  for (const char* name : {"tiny-llama3", "tiny-smollm2"}) {
    CAPTURE(name);
    const std::string dir = petalsln::test::fixture_dir(name);
    const ChatTemplate tpl = ChatTemplate::load(dir);
    CHECK(tpl.family() == (std::string(name) == "tiny-llama3" ? ChatTemplateFamily::llama3
                                                                : ChatTemplateFamily::chatml));
    const auto reference = read_json(dir + "/reference.json");
    REQUIRE(!reference.at("chat").empty());
    for (const auto& c : reference.at("chat")) {
      const std::string rendered =
          tpl.render(messages_of(c.at("messages")), c.at("add_generation_prompt").get<bool>());
      CHECK(rendered == c.at("rendered").get<std::string>());
    }
  }
}

TEST_CASE("chat template: the demo model's template is the SmolLM2-style ChatML") {
  const ChatTemplate demo = ChatTemplate::load(petalsln::test::demo_model_dir());
  CHECK(demo.family() == ChatTemplateFamily::chatml);
  CHECK(demo.render({{"user", "2+2?"}}, true) ==
        "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("chat template: published templates render as transformers renders them") {
  for (const RealTemplateCase& c : kRealTemplates) {
    CAPTURE(c.name);
    const ChatTemplate tpl = ChatTemplate::from_text(c.text, c.bos, c.eos);
    CHECK(tpl.name() == c.name);
    CHECK(tpl.family() == c.family);
    REQUIRE(c.rendered.size() == kConversations.size());
    for (std::size_t i = 0; i < kConversations.size(); ++i) {
      CAPTURE(i);
      CHECK(tpl.render(kConversations[i], kGenerationPrompt[i]) == c.rendered[i]);
    }
  }
}

TEST_CASE("chat template: loads from a chat_template string in tokenizer_config.json") {
  TempDir dir;
  nlohmann::json config = {{"bos_token", {{"__type", "AddedToken"}, {"content", "<|begin_of_text|>"}}},
                           {"eos_token", "<|eot_id|>"},
                           {"chat_template", kLlamaTemplate}};
  dir.write("tokenizer_config.json", config.dump());
  const ChatTemplate tpl = ChatTemplate::load(dir.path());
  CHECK(tpl.family() == ChatTemplateFamily::llama3);
  CHECK(tpl.bos_token() == "<|begin_of_text|>");
  CHECK(tpl.eos_token() == "<|eot_id|>");
  CHECK(tpl.render({{"user", " hi "}}, false) ==
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>");
}

TEST_CASE("chat template: a list of named templates yields the \"default\" one") {
  TempDir dir;
  nlohmann::json config = {{"chat_template",
                            {{{"name", "tool_use"}, {"template", "{{ tools }}"}},
                             {{"name", "default"}, {"template", kSmolTemplate}}}}};
  dir.write("tokenizer_config.json", config.dump());
  CHECK(ChatTemplate::load(dir.path()).family() == ChatTemplateFamily::chatml);

  config["chat_template"].erase(1);
  dir.write("tokenizer_config.json", config.dump());
  const Error e = error_of([&] { ChatTemplate::load(dir.path()); });
  CHECK(e.code() == ErrorCode::not_found);
  CHECK(std::string(e.what()).find("tool_use") != std::string::npos);
}

TEST_CASE("chat template: chat_template.jinja wins over tokenizer_config.json") {
  TempDir dir;
  dir.write("chat_template.jinja", kLlamaTemplate);
  dir.write("tokenizer_config.json",
            nlohmann::json({{"chat_template", kSmolTemplate}, {"bos_token", "<B>"}}).dump());
  const ChatTemplate tpl = ChatTemplate::load(dir.path());
  CHECK(tpl.family() == ChatTemplateFamily::llama3);
  CHECK(tpl.render({{"user", "x"}}, false).rfind("<B><|start_header_id|>", 0) == 0);
}

TEST_CASE("chat template: formatting that cannot change the output is still recognised") {
  const std::string expected =
      ChatTemplate::from_text(kSmolTemplate, "", "").render({{"user", "q"}}, true);
  const std::vector<std::string> variants = {
      kSmolTemplate + "\n",                                     // Jinja drops one final newline
      replace_all(kSmolTemplate, "\n", "\r\n"),                  // CRLF line endings
      replace_all(kSmolTemplate, "'", "\""),                     // quote style
      replace_all(kSmolTemplate, "{% for", "{%   for"),          // spacing inside tags
      replace_all(kSmolTemplate, "{% endfor %}", "{% endfor %}\n"),        // trim_blocks
      replace_all(kSmolTemplate, "{% endfor %}", "{% endfor %}\n  \t"),  // lstrip_blocks
      "{# ChatML #}" + kSmolTemplate,                                       // comments
      replace_all(kSmolTemplate, "{% endfor %}", "{% endfor -%}\n\n  "),   // `-` control
  };
  for (const std::string& v : variants) {
    CAPTURE(v);
    const ChatTemplate tpl = ChatTemplate::from_text(v, "", "");
    CHECK(tpl.render({{"user", "q"}}, true) == expected);
  }
}

TEST_CASE("chat template: unknown templates are refused, never guessed") {
  const std::vector<std::string> unknown = {
      // Mixtral-8x7B-Instruct
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
      "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
      "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ "
      "'[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' "
      "%}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and "
      "assistant roles are supported!') }}{% endif %}{% endfor %}",
      // Qwen1.5-Chat: ChatML-like, but the last turn's <|im_end|> depends on the prompt flag
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
      "'<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif "
      "%}{{'<|im_start|>' + message['role'] + '\n' + message['content']}}{% if (loop.last and "
      "add_generation_prompt) or not loop.last %}{{ '<|im_end|>' + '\n'}}{% endif %}{% endfor "
      "%}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{ "
      "'<|im_start|>assistant\n' }}{% endif %}",
      // Changes that do alter the output.
      replace_all(kSmolTemplate, "{% endfor %}", "{% endfor %}\n\n"),
      replace_all(kSmolTemplate, "{% endfor %}", "{% endfor %}{{ '' }}\n"),
      replace_all(kSmolTemplate, "{% endfor %}", "{% endfor %}  \t"),  // not at a line start
      replace_all(kSmolTemplate, "'<|im_end|>' + '\n'", "'<|im_end|>'"),
      replace_all(kLlamaTemplate, "| trim", ""),
      // Not even a complete template.
      "{% for message in messages %}{{ message['content']",
      "{{ 'unterminated }}",
      "",
  };
  for (const std::string& text : unknown) {
    CAPTURE(text);
    const Error e = error_of([&] { ChatTemplate::from_text(text, "<s>", "</s>"); });
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("chatml") != std::string::npos);
    CHECK(std::string(e.what()).find("llama3") != std::string::npos);
  }
}

TEST_CASE("chat template: a folder without a template is not_found") {
  TempDir dir;
  CHECK(error_of([&] { ChatTemplate::load(dir.path()); }).code() == ErrorCode::not_found);
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>", "chat_template": null})");
  const Error e = error_of([&] { ChatTemplate::load(dir.path()); });
  CHECK(e.code() == ErrorCode::not_found);
  CHECK(std::string(e.what()).find("chat_template") != std::string::npos);
}

TEST_CASE("chat template: malformed files are invalid_format") {
  TempDir dir;
  dir.write("chat_template.jinja", kSmolTemplate);
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>",)");
  Error e = error_of([&] { ChatTemplate::load(dir.path()); });
  CHECK(e.code() == ErrorCode::invalid_format);
  CHECK(std::string(e.what()).find("tokenizer_config.json") != std::string::npos);

  dir.write("tokenizer_config.json", R"({"bos_token": 5})");
  e = error_of([&] { ChatTemplate::load(dir.path()); });
  CHECK(e.code() == ErrorCode::invalid_format);
  CHECK(std::string(e.what()).find("bos_token") != std::string::npos);

  TempDir other;
  other.write("tokenizer_config.json", R"({"chat_template": 42})");
  CHECK(error_of([&] { ChatTemplate::load(other.path()); }).code() == ErrorCode::invalid_format);

  dir.write("tokenizer_config.json", "{}");
  dir.write("chat_template.jinja", "{{ '\xff' }}");
  CHECK(error_of([&] { ChatTemplate::load(dir.path()); }).code() == ErrorCode::invalid_format);
}

TEST_CASE("chat template: bad conversations are invalid_argument with the turn named") {
  const ChatTemplate tpl = ChatTemplate::from_text(kLlamaTemplate, "<|begin_of_text|>", "");
  Error e = error_of([&] { tpl.render({}, true); });
  CHECK(e.code() == ErrorCode::invalid_argument);
  CHECK(std::string(e.what()).find("no messages") != std::string::npos);

  e = error_of([&] { tpl.render({{"user", "ok"}, {"assistant", "bad \xc3\x28"}}, true); });
  CHECK(e.code() == ErrorCode::invalid_argument);
  CHECK(std::string(e.what()).find("chat message 1 content") != std::string::npos);

  e = error_of([&] { tpl.render({{"tool", "{}"}}, true); });
  CHECK(e.code() == ErrorCode::invalid_argument);
  CHECK(std::string(e.what()).find("\"tool\"") != std::string::npos);

  CHECK(error_of([&] { tpl.render({{"\xff", "x"}}, true); }).code() == ErrorCode::invalid_argument);
  CHECK(error_of([&] { ChatTemplate::from_text("{{ '\xff' }}", "", ""); }).code() ==
        ErrorCode::invalid_argument);
}

TEST_CASE("chat template: Jinja whitespace rules and Python's strip") {
  using petalsln::text::canonical_jinja;
  using petalsln::text::JinjaToken;
  auto texts = [](const std::string& source) {
    std::vector<std::string> out;
    const auto tokens = canonical_jinja(source);
    REQUIRE(tokens.has_value());
    for (const JinjaToken& t : *tokens)
      if (t.kind == JinjaToken::Kind::text) out.push_back(t.value);
    return out;
  };
  CHECK(texts("a\n{% if x %}\nb\n{% endif %}\n") == std::vector<std::string>{"a\n", "b\n"});
  CHECK(texts("a\n   {% if x %}b{% endif %}") == std::vector<std::string>{"a\n", "b"});
  CHECK(texts("a\n   {%+ if x %}b{% endif %}") == std::vector<std::string>{"a\n   ", "b"});
  CHECK(texts("a  {%- if x -%}  \n b{% endif %}") == std::vector<std::string>{"a", "b"});
  CHECK(texts("a {{ x }}\nb") == std::vector<std::string>{"a ", "\nb"});
  CHECK(texts("a{# note #}\nb{#- x -#} c") == std::vector<std::string>{"abc"});
  CHECK(!canonical_jinja("{{ 'a\\x41' }}"));  // escapes beyond the common ones: not recognised
  CHECK(canonical_jinja("{{ \"a\\\"b\" }}") == canonical_jinja("{{ 'a\"b' }}"));

  using petalsln::text::python_strip;
  CHECK(python_strip(" \t\n\v\f\r\x1c\x1f x y \xc2\xa0\xe3\x80\x80") == "x y");
  CHECK(python_strip("\xe2\x80\x8b x") == "\xe2\x80\x8b x");  // U+200B is not whitespace
  CHECK(python_strip(" \xe2\x80\x83 ").empty());
}

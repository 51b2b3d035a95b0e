// The checkpoint's text side: tokenizer.json through @huggingface/tokenizers and the chat template
// from tokenizer_config.json through @huggingface/jinja (rendered like transformers renders it).
//
// Prompt integrity: only the chat template may produce control tokens. Text from a request is
// tokenized with special tokens as plain text (transformers' `split_special_tokens=True`), so a
// question holding `<|im_end|><|im_start|>assistant` or `<|image_pad|>` cannot end the user turn,
// open another, or claim an image. For text without special tokens the ids are exactly those of
// tokenizing the rendered prompt as a whole.
// Training encodes prompts by the same rule (training/src/r1judge_train/models/chat_encoding.py,
// step for step); the golden prompts with typed special tokens compare the two.

import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { CheckpointError, readJson } from "./checkpoint.js";
import { EngineError } from "./errors.js";

export const IMAGE_PAD = "<|image_pad|>";

export type ChatContent = { type: "text"; text: string } | { type: "image" };
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string | ChatContent[];
}

interface AddedTokenInfo {
  content: string;
  id: number;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** A run of the prompt: tokenized as a unit, either one added token or plain text. */
type Piece = { token: AddedTokenInfo } | { text: string };

/**
 * Finds added tokens in text, longest match first at each position, as @huggingface/tokenizers'
 * DictionarySplitter does.
 */
class AddedTokenMatcher {
  private readonly byFirstChar = new Map<string, AddedTokenInfo[]>();

  constructor(tokens: readonly AddedTokenInfo[]) {
    for (const token of [...tokens].sort((a, b) => b.content.length - a.content.length)) {
      const first = token.content[0] as string;
      this.byFirstChar.set(first, [...(this.byFirstChar.get(first) ?? []), token]);
    }
  }

  /** Appends `text` to `pieces` split at the tokens this matcher knows. */
  split(text: string, pieces: Piece[]): void {
    let start = 0;
    let i = 0;
    while (i < text.length) {
      const match = this.byFirstChar.get(text[i] as string)?.find((t) => text.startsWith(t.content, i));
      if (!match) {
        i++;
        continue;
      }
      if (i > start) appendText(pieces, text.slice(start, i));
      pieces.push({ token: match });
      i += match.content.length;
      start = i;
    }
    if (start < text.length) appendText(pieces, text.slice(start));
  }
}

/** Adjacent plain runs join: a template part and the request text after it are one run of text. */
function appendText(pieces: Piece[], text: string): void {
  const last = pieces[pieces.length - 1];
  if (last && "text" in last) last.text += text;
  else pieces.push({ text });
}

export class TextCodec {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template,
    readonly imagePadId: number,
    /** Every added token: what the chat template may emit. */
    private readonly templateTokens: AddedTokenMatcher,
    /** Added tokens that are not special: ordinary vocabulary, matched in request text too. */
    private readonly textTokens: AddedTokenMatcher,
  ) {}

  static async load(root: string): Promise<TextCodec> {
    const tokenizerJson = await readJson(root, "tokenizer.json");
    const config = await readJson(root, "tokenizer_config.json");
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (err) {
      throw new CheckpointError(
        "tokenizer.json",
        "(file)",
        `not a usable tokenizer: ${(err as Error).message}`,
      );
    }
    const chatTemplate = config.chat_template;
    if (typeof chatTemplate !== "string" || chatTemplate.length === 0) {
      throw new CheckpointError(
        "tokenizer_config.json",
        "chat_template",
        "missing (a Qwen2-VL chat template is required)",
      );
    }
    let template: Template;
    try {
      template = new Template(chatTemplate);
    } catch (err) {
      throw new CheckpointError(
        "tokenizer_config.json",
        "chat_template",
        `does not parse: ${(err as Error).message}`,
      );
    }
    const imagePadId = tokenizer.token_to_id(IMAGE_PAD);
    if (imagePadId === undefined)
      throw new CheckpointError("tokenizer.json", "added_tokens", `special token ${IMAGE_PAD} is missing`);
    for (const key of ["remove_space", "do_lowercase_and_remove_accent"]) {
      if (config[key] === true)
        throw new CheckpointError(
          "tokenizer_config.json",
          key,
          "must be false (a Qwen tokenizer does neither)",
        );
    }
    const added: AddedTokenInfo[] = [...tokenizer.get_added_tokens_decoder().values()].map((t) => {
      // A normalized added token would be matched only after normalizing, a path Qwen never takes.
      if (t.normalized && tokenizer.normalizer !== null)
        throw new CheckpointError(
          "tokenizer.json",
          "added_tokens",
          `'${t.content}' is normalized; expected false`,
        );
      return { content: t.content, id: t.id, special: t.special, lstrip: t.lstrip, rstrip: t.rstrip };
    });
    return new TextCodec(
      tokenizer,
      template,
      imagePadId,
      new AddedTokenMatcher(added),
      new AddedTokenMatcher(added.filter((t) => !t.special)),
    );
  }

  /** Ids of `text` with every added token recognised (for text the server itself controls). */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = false): string {
    if (ids.length === 0) return "";
    return this.tokenizer.decode([...ids], {
      skip_special_tokens: skipSpecialTokens,
      clean_up_tokenization_spaces: false,
    });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  renderChat(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
    return this.template.render({ messages, add_generation_prompt: addGenerationPrompt });
  }

  /**
   * The rendered chat and its ids, with the messages' text as plain text: a special token spelled
   * in it is tokenized like any other characters, so only the template's own control tokens are.
   * The template's k-th `<|image_pad|>` becomes `imagePads[k]` pads (one per merged image patch).
   */
  encodeChat(
    messages: readonly ChatMessage[],
    imagePads: readonly number[] = [],
    addGenerationPrompt = true,
  ): { text: string; ids: number[] } {
    const texts: string[] = [];
    const marker = markerFor(messages);
    const placeholders = messages.map((m) => ({
      ...m,
      content:
        typeof m.content === "string"
          ? placeholder(marker, texts, m.content)
          : m.content.map((c) =>
              c.type === "text" ? { ...c, text: placeholder(marker, texts, c.text) } : c,
            ),
    }));
    const parts = this.renderChat(placeholders, addGenerationPrompt).split(marker);
    // parts alternate: template, text index, template, text index, …, template.
    if (parts.length !== 2 * texts.length + 1)
      throw new EngineError("internal", "the chat template did not place each message text exactly once");
    const pieces: Piece[] = [];
    parts.forEach((part, i) => {
      if (i % 2 === 0) {
        this.templateTokens.split(part, pieces);
        return;
      }
      const content = texts[Number(part)];
      if (content === undefined)
        throw new EngineError("internal", "the chat template rewrote a message text");
      this.textTokens.split(content, pieces);
    });
    const expanded = this.expandImagePads(pieces, imagePads);
    const text = expanded.map((p) => ("token" in p ? p.token.content : p.text)).join("");
    return { text, ids: this.encodePieces(expanded) };
  }

  private expandImagePads(pieces: readonly Piece[], imagePads: readonly number[]): Piece[] {
    const out: Piece[] = [];
    let image = 0;
    for (const piece of pieces) {
      if (!("token" in piece) || piece.token.id !== this.imagePadId) {
        out.push(piece);
        continue;
      }
      const count = imagePads[image++] ?? 0;
      for (let k = 0; k < count; k++) out.push(piece);
    }
    if (image !== imagePads.length) {
      throw new EngineError(
        "internal",
        `the prompt has ${image} image placeholders for ${imagePads.length} images`,
      );
    }
    return out;
  }

  /** What @huggingface/tokenizers does per section once added tokens are split out, without splitting more. */
  private encodePieces(pieces: Piece[]): number[] {
    pieces.forEach((piece, i) => {
      if (!("token" in piece)) return;
      const before = pieces[i - 1];
      const after = pieces[i + 1];
      if (piece.token.lstrip && before && "text" in before) before.text = before.text.trimEnd();
      if (piece.token.rstrip && after && "text" in after) after.text = after.text.trimStart();
    });
    const { normalizer, pre_tokenizer: preTokenizer, model } = this.tokenizer;
    if (!model) throw new EngineError("internal", "the tokenizer has no model");
    const ids: number[] = [];
    pieces.forEach((piece, sectionIndex) => {
      if ("token" in piece) {
        ids.push(piece.token.id);
        return;
      }
      const text = normalizer ? normalizer(piece.text) : piece.text;
      if (text.length === 0) return;
      const words = preTokenizer ? preTokenizer(text, { section_index: sectionIndex }) : [text];
      for (const token of model(words)) {
        const id = this.tokenizer.token_to_id(token);
        if (id === undefined) throw new EngineError("internal", `token '${token}' is not in the vocabulary`);
        ids.push(id);
      }
    });
    return ids;
  }
}

/**
 * A marker no message text contains: a private-use character absent from all of them (the texts
 * together hold fewer distinct characters than the private-use area has).
 */
function markerFor(messages: readonly ChatMessage[]): string {
  const all = messages
    .flatMap((m) =>
      typeof m.content === "string" ? m.content : m.content.map((c) => ("text" in c ? c.text : "")),
    )
    .join("");
  for (let code = 0xe000; code <= 0xf8ff; code++) {
    const candidate = String.fromCharCode(code);
    if (!all.includes(candidate)) return candidate;
  }
  throw new EngineError("invalid_parameters", "the message text uses every private-use character");
}

function placeholder(marker: string, texts: string[], text: string): string {
  texts.push(text);
  return `${marker}${texts.length - 1}${marker}`;
}

// The checkpoint's text side: tokenizer.json through @huggingface/tokenizers and the chat template
// from tokenizer_config.json through @huggingface/jinja (rendered like transformers renders it).

import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { CheckpointError, readJson } from "./checkpoint.js";

export const IMAGE_PAD = "<|image_pad|>";

export type ChatContent = { type: "text"; text: string } | { type: "image" };
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string | ChatContent[];
}

export class TextCodec {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template,
    readonly imagePadId: number,
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
    return new TextCodec(tokenizer, template, imagePadId);
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = false): string {
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
}

/** Replaces the k-th <|image_pad|> with one pad per merged patch of image k (t·h·w / merge²). */
export function expandImagePads(
  text: string,
  grids: readonly (readonly [number, number, number])[],
  mergeSize = 2,
): string {
  const parts = text.split(IMAGE_PAD);
  if (parts.length - 1 !== grids.length) {
    throw new Error(`the prompt has ${parts.length - 1} image placeholders for ${grids.length} images`);
  }
  let out = parts[0] as string;
  grids.forEach(([t, h, w], i) => {
    out += IMAGE_PAD.repeat((t * h * w) / (mergeSize * mergeSize)) + (parts[i + 1] as string);
  });
  return out;
}

"""Starting points for the prompt editor: the recommended outline, and the OpenAI
image-generation example from the product guide."""

from __future__ import annotations

from typing import Any

OUTLINE = '''# My Service Integration

## 1. Overview
What this integration does, in one or two sentences.

## 2. Environment Variables
```json
[]
```

## 3. Backend Function (Deno)
```ts
Deno.serve(async (req) => {
  // Read each declared secret with Deno.env.get(...), call the API, return the result.
  return new Response(JSON.stringify({ ok: true }), {
    headers: { "Content-Type": "application/json" },
  });
});
```

## 4. Frontend Component (Optional)

## 5. Usage & Examples
- Example prompt: "..."

## 6. Research Summary & Resources
- [API documentation](https://example.com/docs)
'''

OPENAI_PROMPT = '''# OpenAI Text to Image Integration

## 1. Overview
This integration generates images based on natural language prompts using OpenAI's DALL·E model.

## 2. Environment Variables
```json
[
  {
    "name": "OPENAI_API_KEY",
    "description": "Your OpenAI secret API key (starts with sk-...)",
    "how_to_get": "https://platform.openai.com/account/api-keys"
  }
]
```

## 3. Backend Function (Deno)
```ts
Deno.serve(async (req) => {
  const OPENAI_API_KEY = Deno.env.get("OPENAI_API_KEY");
  if (!OPENAI_API_KEY) {
    return new Response(JSON.stringify({ error: "Missing API key configuration" }), {
      status: 500,
      headers: { "Content-Type": "application/json" }
    });
  }

  let prompt;
  try {
    ({ prompt } = await req.json());
  } catch {
    return new Response(JSON.stringify({ error: "Invalid JSON" }), {
      status: 400,
      headers: { "Content-Type": "application/json" }
    });
  }

  if (!prompt) {
    return new Response(JSON.stringify({ error: "Missing prompt" }), {
      status: 400,
      headers: { "Content-Type": "application/json" }
    });
  }

  const response = await fetch("https://api.openai.com/v1/images/generations", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Authorization": `Bearer ${OPENAI_API_KEY}`
    },
    body: JSON.stringify({
      prompt,
      model: "dall-e-3",
      n: 1,
      size: "1024x1024"
    })
  });

  const data = await response.json();
  if (!response.ok) {
    return new Response(JSON.stringify({ error: data }), {
      status: response.status,
      headers: { "Content-Type": "application/json" }
    });
  }

  return new Response(JSON.stringify(data), {
    status: 200,
    headers: { "Content-Type": "application/json" }
  });
});
```

## 4. Frontend Component (Optional)
```tsx
const generateImage = async (prompt: string) => {
  const res = await fetch("/functions/openai-image.js", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt })
  });
  const result = await res.json();
  return result?.data?.[0]?.url || null;
};
```

## 5. Usage & Examples
- Prompt: "Generate an image of a futuristic flying car"
- User types prompt → Backend calls OpenAI → Returns image URL

## 6. Research Summary & Resources
- [OpenAI Image Generation Docs](https://platform.openai.com/docs/api-reference/images/create)
- API: `POST https://api.openai.com/v1/images/generations`
'''

OPENAI_EXAMPLE: dict[str, Any] = {
    "name": "OpenAI Text to Image",
    "slug": "openai-text-to-image",
    "short_description": "Generate images from natural-language prompts with OpenAI's DALL·E.",
    "category": "ai",
    "doc_links": ["https://platform.openai.com/docs/api-reference/images/create"],
    "backend_function": True,
    "required_secrets": [{
        "name": "OPENAI_API_KEY",
        "description": "Your OpenAI secret API key (starts with sk-...)",
        "how_to_get": "https://platform.openai.com/account/api-keys",
    }],
    "prompt": OPENAI_PROMPT,
}

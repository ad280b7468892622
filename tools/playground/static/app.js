// The playground's page: a Telegram-like client of the Bot API emulator, through the playground's /api.
// Every text is drawn from text + entities with DOM nodes (textContent); nothing the bot sent is parsed as HTML.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const state = {
    personas: [],
    me: null,
    chats: [],
    current: null,
    items: new Map(), // chat id -> its items, as the last "chat" event gave them
    unread: new Set(),
    source: null,
    stick: true,
    replyTo: null, // the message of the private chat the next text answers: {message_id, author, text}
    attachments: [], // files chosen to send: {file, kind, preview}
    sending: false,
  };
  const signatures = new WeakMap(); // a drawn item's element -> the JSON it was drawn from
  const SAFE_URL = /^(https?:\/\/|tg:\/\/)/i;
  const INVITE_LINK = /^https:\/\/t\.me\/\+/;
  const ROLES = { fan: "Fan", admin: "Admin" };
  const KINDS = { photo: "Foto", video: "Vídeo", animation: "GIF", voice: "Nota de voz", audio: "Audio", document: "Documento" };
  // Telegram's limits for what a person sends: a photo 10 MB, any other file 50 MB; an album of 2 to 10.
  const MB = 1048576;
  const limitOf = (kind) => (kind === "photo" ? 10 : 50) * MB;
  const MAX_ALBUM = 10;
  const MAX_CAPTION = 1024;
  const PLACEHOLDER = "Escribe un mensaje… (/start, /diana, /admin)";
  const CAPTION_PLACEHOLDER = "Añade un pie de foto… (opcional; /publicar texto, /difundir, /vender…)";

  // The playground's API ------------------------------------------------------------------------------

  async function request(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let answer;
    try {
      answer = await response.json();
    } catch {
      answer = { ok: false, error: `HTTP ${response.status}` };
    }
    if (!answer.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer.result;
  }

  const post = (path, body) => request("POST", path, { user: state.me.id, ...body });
  const fileUrl = (fileId) => `/api/files/${encodeURIComponent(fileId)}?user=${state.me.id}`;

  // Elements ------------------------------------------------------------------------------------------

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function toast(text, kind = "info") {
    const note = el("div", { class: `toast ${kind}`, text });
    $("#toasts").append(note);
    setTimeout(() => note.remove(), kind === "error" ? 6000 : 4000);
  }

  function alertBox(text) {
    $("#alert-text").textContent = text;
    $("#alert-dialog").showModal();
  }

  const duration = (seconds) => {
    const total = Math.max(0, Math.round(seconds || 0));
    return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
  };
  const stars = (amount) => `${amount} ⭐`;
  const time = (date) => new Date(date * 1000).toLocaleTimeString("es", { hour: "2-digit", minute: "2-digit" });
  const size = (bytes) => {
    if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
    return bytes >= 1024 ? `${Math.round(bytes / 1024)} KB` : `${bytes || 0} B`;
  };

  // Text with entities --------------------------------------------------------------------------------

  // Telegram's offsets count UTF-16 code units, as JavaScript strings do. Entities nest (Telegram's HTML
  // makes them so); one overlapping its parent's end is cut there and the rest is left as text.
  function renderText(text, entities) {
    const holder = el("div", { class: "text" });
    const sorted = (entities || [])
      .filter((e) => Number.isInteger(e.offset) && Number.isInteger(e.length) && e.length > 0 && e.offset >= 0)
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    build(holder, text, 0, text.length, sorted);
    return holder;
  }

  function build(parent, text, start, end, entities) {
    let position = start;
    let index = 0;
    while (index < entities.length) {
      const entity = entities[index];
      const from = Math.max(entity.offset, position);
      const to = Math.min(entity.offset + entity.length, end);
      index += 1;
      if (from >= to) continue;
      if (from > position) parent.append(text.slice(position, from));
      const inner = [];
      while (index < entities.length && entities[index].offset < to) {
        inner.push(entities[index]);
        index += 1;
      }
      const [outer, content] = entityElement(entity, text.slice(from, to));
      build(content, text, from, to, inner);
      parent.append(outer);
      position = to;
    }
    if (position < end) parent.append(text.slice(position, end));
  }

  // The element an entity is drawn as: [the outer element, the one its text goes in].
  function entityElement(entity, covered) {
    const single = (node) => [node, node];
    switch (entity.type) {
      case "bold": return single(el("strong"));
      case "italic": return single(el("em"));
      case "underline": return single(el("u"));
      case "strikethrough": return single(el("s"));
      case "code": return single(el("code"));
      case "pre": {
        const code = el("code", { "data-language": entity.language });
        return [el("pre", {}, code), code];
      }
      case "blockquote": return single(el("blockquote"));
      case "expandable_blockquote": return single(el("blockquote", { class: "expandable" }));
      case "spoiler": {
        const hidden = el("span", { class: "spoiler", title: "Spoiler: pulsa para verlo" });
        hidden.addEventListener("click", () => hidden.classList.add("revealed"));
        return single(hidden);
      }
      case "text_link":
        return single(SAFE_URL.test(entity.url || "")
          ? el("a", { href: entity.url, target: "_blank", rel: "noopener noreferrer" })
          : el("span", { class: "link" }));
      case "url": {
        const href = /^https?:\/\//i.test(covered) ? covered : `https://${covered}`;
        return single(el("a", { href, target: "_blank", rel: "noopener noreferrer" }));
      }
      case "bot_command": {
        const command = el("span", { class: "command", role: "link", tabindex: "0" });
        command.addEventListener("click", () => sendText(covered));
        return single(command);
      }
      default: return single(el("span", { class: `entity-${String(entity.type).replace(/[^a-z_]/g, "")}` }));
    }
  }

  // Media ---------------------------------------------------------------------------------------------

  function protect(node, item) {
    if (!item.protected) return node;
    node.classList.add("protected");
    node.addEventListener("contextmenu", (event) => event.preventDefault());
    node.setAttribute("draggable", "false");
    if ("controlsList" in node) node.setAttribute("controlslist", "nodownload");
    return node;
  }

  function renderMedium(medium, item) {
    const src = medium.file ? fileUrl(medium.file) : null;
    let node;
    switch (medium.kind) {
      case "photo":
        node = el("img", { src, alt: "Foto", width: medium.width, height: medium.height });
        break;
      case "video":
        node = el("video", { src, controls: true, preload: "metadata", playsinline: true,
                             width: medium.width, height: medium.height, "aria-label": "Vídeo" });
        break;
      case "animation":
        node = el("video", { src, autoplay: true, muted: true, loop: true, playsinline: true,
                             width: medium.width, height: medium.height, "aria-label": "GIF" });
        node.muted = true;
        break;
      case "voice":
        return el("div", { class: "voice" },
          el("span", { class: "voice-label", text: `🎤 Nota de voz · ${duration(medium.duration)}` }),
          protect(el("audio", { src, controls: true, preload: "metadata", "aria-label": "Nota de voz" }), item));
      case "audio": {
        const title = [medium.title, medium.performer].filter(Boolean).join(" — ") || medium.name || "Audio";
        return el("div", { class: "audio" },
          el("span", { class: "audio-label", text: `🎵 ${title} · ${duration(medium.duration)}` }),
          protect(el("audio", { src, controls: true, preload: "metadata", "aria-label": title }), item));
      }
      case "document": {
        const label = `📄 ${medium.name || "archivo"} · ${size(medium.size)}`;
        return item.protected
          ? el("span", { class: "document protected", text: label })
          : el("a", { class: "document", href: src, download: medium.name || "archivo", text: label });
      }
      default:
        return el("span", { class: "unsupported", text: "(archivo no compatible)" });
    }
    protect(node, item);
    if (medium.spoiler) {
      const cover = el("div", { class: "media-spoiler", title: "Pulsa para ver" }, node);
      cover.addEventListener("click", () => cover.classList.add("revealed"), { once: true });
      return cover;
    }
    return node;
  }

  function renderMedia(item) {
    if (!item.media.length) return null;
    const visual = item.media.filter((m) => ["photo", "video", "animation"].includes(m.kind));
    if (item.media.length > 1) {
      const grid = el("div", { class: `album${visual.length === item.media.length ? "" : " list"}` });
      for (const medium of item.media) grid.append(renderMedium(medium, item));
      return grid;
    }
    return el("div", { class: "media" }, renderMedium(item.media[0], item));
  }

  function renderPaid(item, chat) {
    const paid = item.paid;
    const box = el("div", { class: `paid-media${paid.unlocked ? " unlocked" : ""}` });
    if (paid.unlocked) {
      for (const medium of paid.items) box.append(renderMedium(medium, item));
      box.append(el("span", { class: "paid-badge", text: `Desbloqueado · ${stars(paid.stars)}` }));
      return box;
    }
    const tiles = el("div", { class: "paid-previews" });
    for (const preview of paid.items) {
      const ratio = preview.width && preview.height ? `${preview.width} / ${preview.height}` : "1 / 1";
      tiles.append(el("div", { class: "paid-preview", style: `aspect-ratio: ${ratio}`, "aria-label": "Vista previa borrosa" },
        preview.duration ? el("span", { class: "paid-duration", text: duration(preview.duration) }) : null));
    }
    const unlock = el("button", { type: "button", class: "unlock", text: `Desbloquear por ${stars(paid.stars)}` });
    unlock.addEventListener("click", () => openStars({
      heading: "Desbloquear contenido",
      title: "Contenido de pago",
      description: item.text || "",
      amount: paid.stars,
      confirm: `Desbloquear por ${stars(paid.stars)}`,
      act: async () => {
        await post("/api/paid_media", { chat_id: chat.id, message_id: item.message_id });
        toast("Contenido desbloqueado ✨");
        return true;
      },
    }));
    box.append(tiles, unlock);
    return box;
  }

  function renderInvoice(item, payButtonInKeyboard) {
    const invoice = item.invoice;
    const card = el("div", { class: "invoice" },
      el("strong", { class: "invoice-title", text: invoice.title || "Factura" }),
      el("p", { class: "invoice-description", text: invoice.description || "" }),
      el("p", { class: "invoice-total", text: invoice.currency === "XTR" ? stars(invoice.amount) : `${invoice.amount} ${invoice.currency}` }));
    if (invoice.paid) card.append(el("span", { class: "invoice-paid", text: "✓ Pagado" }));
    else if (!payButtonInKeyboard) card.append(payButton(item, `Pagar ${stars(invoice.amount)}`));
    return card;
  }

  function payButton(item, label) {
    const invoice = item.invoice;
    const button = el("button", { type: "button", class: "kb pay", text: invoice.paid ? "✓ Pagado" : label, disabled: invoice.paid });
    button.addEventListener("click", () => openStars({
      heading: "Pagar con Telegram Stars",
      title: invoice.title || "Factura",
      description: invoice.description || "",
      amount: invoice.amount,
      confirm: `Pagar ${stars(invoice.amount)}`,
      act: async () => {
        const result = await post("/api/pay", { message_id: item.message_id });
        if (!result.ok) throw new Error(result.error_message || "El pago no se completó: Diana no lo aceptó a tiempo.");
        toast("Pago completado ⭐");
        return true;
      },
    }));
    return button;
  }

  // A button that opens an invoice link (createInvoiceLink's https://t.me/$...): the same dialog, paid through the
  // link; a link with a period is a Stars subscription ("cada 30 días"), shown paid while it runs.
  function invoiceLinkButton(button) {
    const invoice = button.invoice;
    const every = invoice.period ? `cada ${Math.round(invoice.period / 86400)} días` : "";
    const node = el("button", { type: "button", class: "kb pay invoice-link", text: invoice.paid ? "✓ Pagado" : button.text, disabled: invoice.paid });
    node.addEventListener("click", () => openStars({
      heading: invoice.period ? "Suscribirse con Telegram Stars" : "Pagar con Telegram Stars",
      title: invoice.title || "Factura",
      description: invoice.description || "",
      amount: invoice.amount,
      period: every,
      confirm: invoice.period ? `Suscribirme por ${stars(invoice.amount)}` : `Pagar ${stars(invoice.amount)}`,
      act: async () => {
        const result = await post("/api/pay", { invoice_link: button.url });
        if (!result.ok) throw new Error(result.error_message || "El pago no se completó: Diana no lo aceptó a tiempo.");
        toast(invoice.period ? "Suscripción activada ⭐" : "Pago completado ⭐");
        return true;
      },
    }));
    return node;
  }

  // The Stars dialog: paying an invoice or an invoice link, or unlocking paid media.
  function openStars({ heading, title, description, amount, period = "", confirm, act }) {
    const dialog = $("#stars-dialog");
    $("#stars-heading").textContent = heading;
    $("#stars-title").textContent = title;
    $("#stars-description").textContent = description;
    $("#stars-amount").textContent = stars(amount);
    $("#stars-period").textContent = period;
    $("#stars-period").hidden = !period;
    const error = $("#stars-error");
    error.hidden = true;
    const confirmButton = $("#stars-confirm");
    confirmButton.textContent = confirm;
    confirmButton.disabled = false;
    confirmButton.onclick = async () => {
      confirmButton.disabled = true;
      confirmButton.textContent = "Procesando…";
      error.hidden = true;
      try {
        await act();
        dialog.close();
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        confirmButton.textContent = confirm;
        confirmButton.disabled = false;
      }
    };
    $("#stars-cancel").onclick = () => dialog.close();
    dialog.showModal();
  }

  // Keyboards -----------------------------------------------------------------------------------------

  function renderKeyboard(item, chat) {
    const keyboard = el("div", { class: "keyboard", role: "group", "aria-label": "Botones" });
    for (const row of item.buttons) {
      const line = el("div", { class: "keyboard-row" });
      for (const button of row) line.append(keyboardButton(item, chat, button));
      keyboard.append(line);
    }
    return keyboard;
  }

  function keyboardButton(item, chat, button) {
    if (button.pay && item.invoice) return payButton(item, button.text);
    if (button.url && button.invoice) return invoiceLinkButton(button);
    if (button.data) {
      const node = el("button", { type: "button", class: "kb", text: button.text, "data-callback": button.data });
      node.addEventListener("click", () => press(node, chat, item, button.data));
      return node;
    }
    if (button.url && INVITE_LINK.test(button.url)) {
      const node = el("button", { type: "button", class: "kb link", text: `${button.text} ↗` });
      node.addEventListener("click", () => join(node, button.url));
      return node;
    }
    if (button.url && SAFE_URL.test(button.url)) {
      return el("a", { class: "kb link", href: button.url, target: "_blank", rel: "noopener noreferrer", text: `${button.text} ↗` });
    }
    return el("button", { type: "button", class: "kb", text: button.text, disabled: true });
  }

  async function press(node, chat, item, data) {
    node.classList.add("busy");
    node.disabled = true;
    try {
      const result = await post("/api/press", { chat_id: chat.id, message_id: item.message_id, data });
      const answer = result.answer;
      if (answer && answer.text) {
        if (answer.show_alert) alertBox(answer.text);
        else toast(answer.text);
      }
      if (!result.answered) toast("Diana no contestó a tiempo a ese botón.", "error");
    } catch (failure) {
      toast(failure.message, "error");
    } finally {
      node.classList.remove("busy");
      node.disabled = false;
    }
  }

  async function join(node, inviteLink) {
    node.disabled = true;
    try {
      const result = await post("/api/join", { invite_link: inviteLink });
      toast(result.status === "pending" ? "Solicitud enviada al canal." : "Te uniste al canal.");
    } catch (failure) {
      toast(failure.message, "error");
    } finally {
      node.disabled = false;
    }
  }

  // Messages ------------------------------------------------------------------------------------------

  function serviceText(service) {
    const amount = service.currency === "XTR" ? stars(service.amount) : `${service.amount} ${service.currency}`;
    return service.kind === "payment" ? `Pagaste ${amount}` : `Se te devolvieron ${amount}`;
  }

  function renderItem(item, chat) {
    const li = el("li", { class: `message from-${item.from}`, "data-key": item.key, "data-message-id": item.message_id });
    if (item.service) {
      li.append(el("p", { class: "service", text: serviceText(item.service) }));
      return li;
    }
    const bubble = el("div", { class: "bubble" });
    if (item.from === "channel") bubble.append(el("span", { class: "author", text: chat.title }));
    if (item.reply) bubble.append(renderQuote(item.reply, chat));
    const text = item.text ? renderText(item.text, item.entities) : null;
    const media = item.paid ? renderPaid(item, chat) : renderMedia(item);
    if (item.caption_above) bubble.append(...[text, media].filter(Boolean));
    else bubble.append(...[media, text].filter(Boolean));
    const payInKeyboard = item.buttons.some((row) => row.some((button) => button.pay));
    if (item.invoice) bubble.append(renderInvoice(item, payInKeyboard));
    if (!bubble.childElementCount || (item.from === "channel" && bubble.childElementCount === 1)) {
      bubble.append(el("span", { class: "unsupported", text: "(mensaje no compatible con el playground)" }));
    }
    const meta = el("span", { class: "meta", text: `${item.edited ? "editado · " : ""}${time(item.date)}` });
    if (chat.kind === "private") {
      const reply = el("button", { type: "button", class: "reply-action", text: "↩ Responder", title: "Responder a este mensaje" });
      reply.addEventListener("click", () => replyTo(item, chat));
      bubble.append(el("div", { class: "bubble-footer" }, reply, meta));
    } else {
      bubble.append(meta);
    }
    li.append(bubble);
    if (item.buttons.length) li.append(renderKeyboard(item, chat));
    return li;
  }

  // Who wrote a message, as a quote names them.
  function authorOf(from, chat) {
    if (from === "bot") return "Diana";
    if (from === "channel") return chat.title;
    if (from === "user") return chat.kind === "private" ? "Tú" : "Usuario";
    return "Telegram";
  }

  // What a quote says of a message: its text, or else what it carries.
  function quoteText(text, media) {
    if (text) return text;
    const labels = { ...KINDS, paid_media: "Contenido de pago", invoice: "Factura" };
    return media ? labels[media] || "Archivo" : "Mensaje";
  }

  function renderQuote(reply, chat) {
    return el("div", { class: "quote reply-quote", "data-reply-to": reply.message_id },
      el("span", { class: "quote-author", text: authorOf(reply.from, chat) }),
      el("span", { class: "quote-text", text: quoteText(reply.text, reply.media) }));
  }

  function renderMessages(fresh) {
    const list = $("#messages");
    const chat = state.chats.find((c) => c.id === state.current);
    if (!chat) return;
    if (fresh) list.replaceChildren();
    list.dataset.chatId = String(chat.id);
    if (fresh) state.stick = true;
    const items = state.items.get(chat.id) || [];
    const existing = new Map([...list.children].map((node) => [node.dataset.key, node]));
    let previous = null;
    for (const item of items) {
      const signature = JSON.stringify(item);
      let node = existing.get(item.key);
      existing.delete(item.key);
      if (!node || signatures.get(node) !== signature) {
        const drawn = renderItem(item, chat);
        signatures.set(drawn, signature);
        if (node) node.replaceWith(drawn);
        node = drawn;
      }
      const expected = previous ? previous.nextSibling : list.firstChild;
      if (node !== expected) list.insertBefore(node, expected);
      previous = node;
    }
    for (const node of existing.values()) node.remove();
    if (!items.length) list.append(el("li", { class: "empty", "data-key": "empty", text: chat.kind === "private" ? "Aún no hay mensajes. Escribe /start para conocer a Diana." : "Aún no hay publicaciones en este canal." }));
    keepAtBottom();
  }

  // The chat stays scrolled to its newest message while the person has not scrolled up, also as media load.
  function keepAtBottom() {
    const list = $("#messages");
    if (state.stick) list.scrollTop = list.scrollHeight;
  }

  // Chats ---------------------------------------------------------------------------------------------

  function renderChats() {
    const nav = $("#chats");
    nav.replaceChildren();
    for (const chat of state.chats) {
      const icon = chat.kind === "private" ? "💬" : chat.members_only ? "💎" : "📣";
      const button = el("button", { type: "button", class: "chat-link", "data-chat-id": chat.id,
                                    "aria-current": chat.id === state.current ? "page" : null },
        el("span", { class: "chat-icon", text: icon, "aria-hidden": "true" }),
        el("span", { class: "chat-name", text: chat.title }),
        state.unread.has(chat.id) ? el("span", { class: "unread", text: "●", "aria-label": "mensajes nuevos" }) : null);
      button.addEventListener("click", () => openChat(chat.id));
      nav.append(button);
    }
  }

  function openChat(chatId) {
    state.current = chatId;
    state.unread.delete(chatId);
    const chat = state.chats.find((c) => c.id === chatId);
    $("#chat-title").textContent = chat.title;
    $("#composer").hidden = chat.kind !== "private";
    $("#channel-note").hidden = chat.kind === "private";
    renderComposerBars();
    renderChats();
    renderMessages(true);
    if (chat.kind === "private") $("#text").focus();
  }

  // Sending -------------------------------------------------------------------------------------------

  async function sendText(text) {
    if (!text.trim()) return false;
    const reply = state.replyTo ? { reply_to_message_id: state.replyTo.message_id } : {};
    try {
      await post("/api/messages", { text, ...reply });
      if (state.replyTo && reply.reply_to_message_id === state.replyTo.message_id) setReplyTo(null);
      return true;
    } catch (failure) {
      toast(failure.message, "error");
      return false;
    }
  }

  // Replies: the quoted message above the composer; the next text answers it.
  function replyTo(item, chat) {
    setReplyTo({ message_id: item.message_id, author: authorOf(item.from, chat),
                 text: quoteText(item.text, item.media.length ? item.media[0].kind : item.paid ? "paid_media" : item.invoice ? "invoice" : null) });
    $("#text").focus();
  }

  function setReplyTo(target) {
    state.replyTo = target;
    if (target) {
      $("#reply-author").textContent = target.author;
      $("#reply-text").textContent = target.text;
    }
    renderComposerBars();
  }

  function renderComposerBars() {
    const chat = state.chats.find((c) => c.id === state.current);
    const private_ = !chat || chat.kind === "private";
    $("#reply-bar").hidden = !private_ || !state.replyTo;
    $("#attachments").hidden = !private_ || !state.attachments.length;
    $("#text").placeholder = state.attachments.length ? CAPTION_PLACEHOLDER : PLACEHOLDER;
  }

  // Attachments: files chosen from disk, each sent as the kind Telegram's client would send it (changeable).
  function kindOf(file) {
    const type = (file.type || "").toLowerCase();
    const name = file.name.toLowerCase();
    if (type === "image/gif") return "animation";
    if (["image/jpeg", "image/png", "image/webp"].includes(type)) return "photo";
    if (type.startsWith("video/")) return "video";
    if (type === "audio/ogg" || type === "audio/opus" || /\.(ogg|oga|opus)$/.test(name)) return "voice";
    if (type.startsWith("audio/")) return "audio";
    return "document";
  }

  function addAttachments(files) {
    for (const file of files) {
      const kind = kindOf(file);
      const preview = kind === "photo" ? URL.createObjectURL(file) : null;
      state.attachments.push({ file, kind, preview });
    }
    renderAttachments();
    $("#text").focus();
  }

  function clearAttachments(sent = state.attachments) {
    for (const attachment of sent) if (attachment.preview) URL.revokeObjectURL(attachment.preview);
    state.attachments = state.attachments.filter((attachment) => !sent.includes(attachment));
    renderAttachments();
  }

  function renderAttachments() {
    const list = $("#attachment-list");
    list.replaceChildren();
    for (const attachment of state.attachments) {
      const { file } = attachment;
      const tooBig = file.size > limitOf(attachment.kind);
      const select = el("select", { class: "attachment-kind", "aria-label": `Enviar ${file.name} como` });
      for (const [kind, label] of Object.entries(KINDS)) {
        select.append(el("option", { value: kind, text: label, selected: kind === attachment.kind }));
      }
      select.addEventListener("change", () => {
        attachment.kind = select.value;
        renderAttachments();
      });
      const remove = el("button", { type: "button", class: "attachment-remove", text: "✕", "aria-label": `Quitar ${file.name}` });
      remove.addEventListener("click", () => clearAttachments([attachment]));
      list.append(el("li", { class: `attachment${tooBig ? " too-big" : ""}` },
        attachment.preview ? el("img", { src: attachment.preview, alt: "", class: "attachment-thumb" }) : el("span", { class: "attachment-icon", text: "📄" }),
        el("span", { class: "attachment-name", text: file.name }),
        el("span", { class: "attachment-size", text: tooBig ? `${size(file.size)} · más de ${size(limitOf(attachment.kind))}` : size(file.size) }),
        select, remove));
    }
    renderComposerBars();
  }

  // What several files go as: albums of photos and videos (or only audio, or only documents), up to 10 each;
  // anything else one by one. The caption goes with the first.
  function sendingPlan(attachments) {
    const kinds = new Set(attachments.map((a) => a.kind));
    const photosAndVideos = [...kinds].every((kind) => kind === "photo" || kind === "video");
    const oneKind = kinds.size === 1 && (kinds.has("audio") || kinds.has("document"));
    if (attachments.length < 2 || !(photosAndVideos || oneKind)) return attachments.map((a) => [a]);
    const groups = [];
    for (let start = 0; start < attachments.length; start += MAX_ALBUM) groups.push(attachments.slice(start, start + MAX_ALBUM));
    return groups;
  }

  function base64Of(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(",") + 1));
      reader.onerror = () => reject(reader.error || new Error(`No se pudo leer ${file.name}`));
      reader.readAsDataURL(file);
    });
  }

  async function sendAttachments(caption) {
    const tooBig = state.attachments.find((a) => a.file.size > limitOf(a.kind));
    if (tooBig) {
      toast(`${tooBig.file.name} pesa ${size(tooBig.file.size)}: Telegram admite hasta ${size(limitOf(tooBig.kind))} para ${KINDS[tooBig.kind].toLowerCase()}.`, "error");
      return false;
    }
    if (caption.length > MAX_CAPTION) {
      toast(`El pie de foto pasa de ${MAX_CAPTION} caracteres.`, "error");
      return false;
    }
    let first = true;
    for (const group of sendingPlan([...state.attachments])) {
      const withCaption = first && caption.trim() ? { caption } : {};
      try {
        if (group.length === 1) {
          const [{ file, kind }] = group;
          await post("/api/media", { type: kind, file_name: file.name, mime_type: file.type || undefined,
                                     content_base64: await base64Of(file), ...withCaption });
        } else {
          const items = [];
          for (const { file, kind } of group) items.push({ type: kind, file_name: file.name, content_base64: await base64Of(file) });
          await post("/api/albums", { items, ...withCaption });
        }
      } catch (failure) {
        toast(failure.message, "error");
        return false;
      }
      first = false;
      clearAttachments(group);
      if (withCaption.caption) $("#text").value = "";
    }
    return true;
  }

  function setUpScrolling() {
    const list = $("#messages");
    list.addEventListener("scroll", () => {
      state.stick = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    });
    // Images and videos take their height once loaded (the events do not bubble: caught on the way down).
    list.addEventListener("load", keepAtBottom, true);
    list.addEventListener("loadedmetadata", keepAtBottom, true);
  }

  function setUpComposer() {
    const input = $("#text");
    const send = $("#send");
    $("#composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (state.sending) return;
      const text = input.value;
      state.sending = true;
      send.disabled = true;
      send.textContent = "Enviando…";
      try {
        const sent = state.attachments.length ? await sendAttachments(text) : await sendText(text);
        if (sent) input.value = "";
      } finally {
        state.sending = false;
        send.disabled = false;
        send.textContent = "Enviar";
      }
      input.focus();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        $("#composer").requestSubmit();
      }
    });
    const picker = $("#file");
    $("#attach").addEventListener("click", () => picker.click());
    picker.addEventListener("change", () => {
      addAttachments([...picker.files]);
      picker.value = "";
    });
    $("#attachments-clear").addEventListener("click", () => clearAttachments());
    $("#reply-cancel").addEventListener("click", () => setReplyTo(null));
  }

  // Who you are ---------------------------------------------------------------------------------------

  function renderPicker() {
    const list = $("#personas");
    list.replaceChildren();
    for (const persona of state.personas) {
      const button = el("button", { type: "button", class: `persona ${persona.role}`, "data-user-id": persona.id },
        el("span", { class: "persona-name", text: persona.name }),
        el("span", { class: "persona-role", text: `${ROLES[persona.role] || persona.role} · ${persona.id}` }));
      button.addEventListener("click", () => choose(persona));
      list.append(el("li", {}, button));
    }
    $("#no-admin").hidden = state.personas.some((p) => p.role === "admin");
  }

  function choose(persona) {
    if (state.source) state.source.close();
    state.me = persona;
    state.chats = [];
    state.items = new Map();
    state.unread = new Set();
    state.current = persona.id;
    state.replyTo = null;
    clearAttachments();
    history.replaceState(null, "", `#user=${persona.id}`);
    $("#picker").hidden = true;
    $("#app").hidden = false;
    $("#whoami").hidden = false;
    $("#whoami-name").textContent = `${persona.name} (${ROLES[persona.role] || persona.role})`;
    $("#messages").replaceChildren();
    connect();
  }

  function leave() {
    if (state.source) state.source.close();
    state.source = null;
    state.me = null;
    history.replaceState(null, "", location.pathname);
    $("#app").hidden = true;
    $("#whoami").hidden = true;
    $("#picker").hidden = false;
  }

  function connect() {
    const source = new EventSource(`/api/events?user=${state.me.id}`);
    state.source = source;
    const connection = $("#connection");
    source.addEventListener("open", () => {
      connection.textContent = "● En vivo";
      connection.classList.remove("lost");
    });
    source.addEventListener("error", () => {
      connection.textContent = "Reconectando…";
      connection.classList.add("lost");
    });
    source.addEventListener("chats", (event) => {
      state.chats = JSON.parse(event.data);
      if (!state.chats.some((c) => c.id === state.current)) state.current = state.me.id;
      const chat = state.chats.find((c) => c.id === state.current);
      $("#chat-title").textContent = chat.title;
      $("#composer").hidden = chat.kind !== "private";
      $("#channel-note").hidden = chat.kind === "private";
      renderComposerBars();
      renderChats();
    });
    source.addEventListener("chat", (event) => {
      const update = JSON.parse(event.data);
      const known = state.items.has(update.chat_id);
      state.items.set(update.chat_id, update.items);
      if (update.chat_id === state.current) renderMessages(false);
      else if (known) {
        state.unread.add(update.chat_id);
        renderChats();
      }
    });
  }

  async function main() {
    setUpComposer();
    setUpScrolling();
    $("#switch").addEventListener("click", leave);
    try {
      state.personas = (await request("GET", "/api/config")).personas;
    } catch (failure) {
      toast(`No encuentro el playground: ${failure.message}`, "error");
      return;
    }
    renderPicker();
    const wanted = Number(new URLSearchParams(location.hash.slice(1)).get("user"));
    const persona = state.personas.find((p) => p.id === wanted);
    if (persona) choose(persona);
  }

  main();
})();

/** Raw asset imports: SVG icons (the lab builder) and CSS text (the widget bundle). */
declare module '*.svg' {
  const content: string;
  export default content;
}

declare module '*.css' {
  const content: string;
  export default content;
}

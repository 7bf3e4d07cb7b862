// esbuild bundles imported stylesheets into console.css.
declare module '*.css';

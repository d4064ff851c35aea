// Vietnamese first, English on request; the choice is remembered in localStorage and carried in
// the shared URL. Static texts are marked in the HTML with data-i18n (text), data-i18n-aria
// (aria-label) and data-i18n-placeholder; dynamic texts call t().

const STORAGE_KEY = 'gis.lang';

export const DICT = {
  vi: {
    'app.title': 'Bản đồ phường — Nền tảng GIS', 'app.skip': 'Bỏ qua, đến bản đồ', 'app.nav': 'Điều hướng',
    'app.uploadLink': 'Tải dữ liệu lên', 'app.mapLink': 'Về bản đồ', 'app.langSwitch': 'English',
    'app.langSwitchLabel': 'Switch to English',
    'panel.label': 'Bảng điều khiển', 'map.label': 'Bản đồ', 'map.error': 'Lỗi bản đồ',
    'cat.heading': 'Danh mục lớp dữ liệu', 'cat.search': 'Tìm lớp dữ liệu',
    'cat.searchPlaceholder': 'ví dụ: truong hoc', 'cat.category': 'Chủ đề', 'cat.allCategories': 'Tất cả chủ đề',
    'cat.results': 'Kết quả tìm kiếm', 'cat.found': 'Tìm thấy {n} lớp', 'cat.none': 'Không có lớp nào phù hợp',
    'cat.unavailable': 'Danh mục chưa sẵn sàng trên máy chủ này', 'cat.error': 'Không tải được danh mục',
    'cat.loading': 'Đang tải lớp {name}…', 'cat.layerError': 'Không hiển thị được lớp {name}',
    'badge.synthetic': 'giả lập', 'badge.syntheticHelp': 'Dữ liệu giả lập, không phải số liệu thật',
    'badge.internal': 'nội bộ', 'badge.internalHelp': 'Lớp nội bộ: chỉ cán bộ đã đăng nhập mới xem được',
    'auth.signIn': 'Đăng nhập bằng mã truy cập', 'auth.token': 'Mã truy cập',
    'auth.tokenHelp': 'Chỉ lưu trong phiên làm việc này (sessionStorage), dùng chung với trang tải lên.',
    'auth.submit': 'Đăng nhập', 'auth.signOut': 'Đăng xuất', 'auth.signedIn': 'Đã đăng nhập',
    'auth.welcome': 'Đã đăng nhập: bản đồ hiển thị cả các lớp nội bộ bạn được xem.',
    'auth.signedOut': 'Đã đăng xuất: chỉ hiển thị các lớp công khai.',
    'auth.rejected': 'Mã truy cập không hợp lệ hoặc đã bị thu hồi. Bản đồ chỉ hiển thị dữ liệu công khai.',
    'auth.empty': 'Hãy nhập mã truy cập.',
    'active.heading': 'Lớp đang hiển thị', 'active.empty': 'Chưa bật lớp nào.', 'active.up': 'Đưa lên trên',
    'active.down': 'Đưa xuống dưới', 'active.remove': 'Tắt lớp', 'active.opacity': 'Độ mờ đục',
    'choro.heading': 'Bản đồ chuyên đề', 'choro.enable': 'Tô màu phường theo chỉ tiêu', 'choro.settings': 'Thiết lập',
    'choro.indicator': 'Chỉ tiêu', 'choro.period': 'Kỳ số liệu', 'choro.periodPlaceholder': 'mới nhất',
    'choro.at': 'Ranh giới hành chính', 'choro.after': 'Sau sắp xếp (2026-01-01)',
    'choro.before': 'Trước sắp xếp (2025-03-01)', 'choro.scheme': 'Cách phân lớp', 'choro.quantiles': 'Phân vị',
    'choro.equal_interval': 'Khoảng đều', 'choro.fisher_jenks': 'Fisher–Jenks',
    'choro.natural_breaks': 'Ngắt tự nhiên', 'choro.k': 'Số lớp', 'choro.legend': 'Chú giải',
    'choro.unavailable': 'Số liệu thống kê chưa sẵn sàng trên máy chủ này', 'choro.loading': 'Đang tính…',
    'choro.noData': 'Không có số liệu', 'choro.noValues': 'Không có số liệu cho lựa chọn này',
    'choro.districts': 'Trước sắp xếp chưa có ranh giới phường mở: hiển thị cấp quận/huyện',
    'choro.error': 'Không tính được bản đồ chuyên đề', 'choro.units': '{n} đơn vị có số liệu',
    'attr.boundaries': 'Ranh giới',
    'popup.attributes': 'Thuộc tính', 'popup.ward': 'Phường/xã', 'popup.stats': 'Số liệu chính',
    'popup.noWard': 'Điểm này không nằm trong phường/xã nào', 'popup.noStats': 'Chưa có số liệu thống kê',
    'popup.profile': 'Hồ sơ phường', 'popup.loading': 'Đang tải…', 'popup.close': 'Đóng',
    'profile.close': 'Đóng', 'profile.code': 'Mã', 'profile.area': 'Diện tích (km²)', 'profile.parent': 'Trực thuộc',
    'profile.indicators': 'Chỉ tiêu', 'profile.period': 'Kỳ', 'profile.value': 'Giá trị',
    'profile.unavailable': 'Hồ sơ thống kê chưa sẵn sàng',
    'up.title': 'Tải dữ liệu lên và xuất bản', 'up.token': 'Mã truy cập biên tập viên',
    'up.tokenHelp': 'Chỉ lưu trong phiên làm việc này (sessionStorage).', 'up.tokenHeading': 'Quyền truy cập',
    'up.layerHeading': 'Lớp dữ liệu', 'up.layer': 'Chọn lớp có sẵn', 'up.chooseLayer': '— chọn lớp —',
    'up.newLayer': 'Hoặc tạo lớp mới', 'up.slug': 'Mã lớp (slug)', 'up.titleVi': 'Tên tiếng Việt',
    'up.titleEn': 'Tên tiếng Anh', 'up.category': 'Chủ đề', 'up.geometry': 'Kiểu hình học', 'up.agency': 'Cơ quan quản lý', 'up.licence': 'Giấy phép',
    'up.attribution': 'Ghi công nguồn', 'up.synthetic': 'Dữ liệu giả lập', 'up.create': 'Tạo lớp',
    'up.created': 'Đã tạo lớp {slug}', 'up.fileHeading': 'Tệp dữ liệu',
    'up.drop': 'Kéo thả tệp vào đây, hoặc nhấn để chọn tệp (GeoJSON, Shapefile nén, GeoPackage, KML, CSV, FlatGeobuf)',
    'up.file': 'Tệp', 'up.crs': 'Hệ toạ độ (nếu tệp không ghi)', 'up.encoding': 'Bảng mã ký tự',
    'up.layerName': 'Lớp trong tệp (GeoPackage)', 'up.publishNow': 'Xuất bản ngay khi hợp lệ',
    'up.upload': 'Tải lên', 'up.needToken': 'Cần mã truy cập biên tập viên', 'up.needLayer': 'Hãy chọn hoặc tạo một lớp',
    'up.needFile': 'Hãy chọn một tệp', 'up.uploading': 'Đang gửi tệp… {pct}%', 'up.queued': 'Đang chờ xử lý',
    'up.running': 'Đang xử lý: {stage}', 'up.succeeded': 'Hợp lệ: phiên bản {version}, {count} đối tượng',
    'up.failed': 'Không nhập được tệp', 'up.progress': 'Tiến độ', 'up.reportHeading': 'Báo cáo kiểm tra',
    'up.noProblems': 'Không phát hiện vấn đề', 'up.problems': '{n} vấn đề', 'up.feature': 'Đối tượng', 'up.row': 'Dòng',
    'up.column': 'Cột', 'up.message': 'Vấn đề', 'up.previewHeading': 'Xem trước', 'up.publish': 'Xuất bản phiên bản {version}',
    'up.published': 'Đã xuất bản phiên bản {version}', 'up.versionsHeading': 'Các phiên bản',
    'up.version': 'Phiên bản', 'up.status': 'Trạng thái', 'up.features': 'Số đối tượng', 'up.date': 'Ngày', 'up.action': 'Thao tác',
    'up.rollback': 'Quay về phiên bản {version}', 'up.rolledBack': 'Đã quay về phiên bản {version}',
    'up.current': 'đang dùng', 'up.noVersions': 'Chưa có phiên bản nào', 'up.unavailable': 'Chức năng tải lên chưa sẵn sàng trên máy chủ này',
    'up.previewNone': 'Khung bao của phiên bản mới; dữ liệu hiện sau khi xuất bản',
    'up.previewDraft': 'Phiên bản {version} chưa xuất bản: {shown} / {count} đối tượng (chỉ biên tập viên thấy)',
  },
  en: {
    'app.title': 'Ward map — GIS Platform', 'app.skip': 'Skip to the map', 'app.nav': 'Navigation',
    'app.uploadLink': 'Upload data', 'app.mapLink': 'Back to the map', 'app.langSwitch': 'Tiếng Việt',
    'app.langSwitchLabel': 'Chuyển sang tiếng Việt',
    'panel.label': 'Control panel', 'map.label': 'Map', 'map.error': 'Map error',
    'cat.heading': 'Layer catalogue', 'cat.search': 'Search layers', 'cat.searchPlaceholder': 'e.g. schools',
    'cat.category': 'Theme', 'cat.allCategories': 'All themes', 'cat.results': 'Search results',
    'cat.found': '{n} layers found', 'cat.none': 'No matching layer', 'cat.unavailable': 'The catalogue is not available on this server',
    'cat.error': 'Could not load the catalogue', 'cat.loading': 'Loading layer {name}…',
    'cat.layerError': 'Could not show layer {name}',
    'badge.synthetic': 'synthetic', 'badge.syntheticHelp': 'Synthetic data, not real figures',
    'badge.internal': 'internal', 'badge.internalHelp': 'Internal layer: visible to signed-in staff only',
    'auth.signIn': 'Sign in with an access token', 'auth.token': 'Access token',
    'auth.tokenHelp': 'Kept for this browser session only (sessionStorage), shared with the upload page.',
    'auth.submit': 'Sign in', 'auth.signOut': 'Sign out', 'auth.signedIn': 'Signed in',
    'auth.welcome': 'Signed in: the map also shows the internal layers you may see.',
    'auth.signedOut': 'Signed out: only public layers are shown.',
    'auth.rejected': 'The access token is invalid or has been revoked. The map shows public data only.',
    'auth.empty': 'Enter an access token.',
    'active.heading': 'Visible layers', 'active.empty': 'No layer switched on yet.', 'active.up': 'Move up',
    'active.down': 'Move down', 'active.remove': 'Switch off', 'active.opacity': 'Opacity',
    'choro.heading': 'Thematic map', 'choro.enable': 'Colour wards by an indicator', 'choro.settings': 'Settings',
    'choro.indicator': 'Indicator', 'choro.period': 'Period', 'choro.periodPlaceholder': 'latest',
    'choro.at': 'Administrative boundaries', 'choro.after': 'After the reform (2026-01-01)',
    'choro.before': 'Before the reform (2025-03-01)', 'choro.scheme': 'Classification', 'choro.quantiles': 'Quantiles',
    'choro.equal_interval': 'Equal interval', 'choro.fisher_jenks': 'Fisher–Jenks',
    'choro.natural_breaks': 'Natural breaks', 'choro.k': 'Number of classes', 'choro.legend': 'Legend',
    'choro.unavailable': 'Statistics are not available on this server', 'choro.loading': 'Computing…',
    'choro.noData': 'No data', 'choro.noValues': 'No values for this selection',
    'choro.districts': 'No open ward polygons exist before the reform: showing districts',
    'choro.error': 'Could not compute the thematic map', 'choro.units': '{n} units with values',
    'attr.boundaries': 'Boundaries',
    'popup.attributes': 'Attributes', 'popup.ward': 'Ward', 'popup.stats': 'Key statistics',
    'popup.noWard': 'This point lies in no ward', 'popup.noStats': 'No statistics yet',
    'popup.profile': 'Ward profile', 'popup.loading': 'Loading…', 'popup.close': 'Close',
    'profile.close': 'Close', 'profile.code': 'Code', 'profile.area': 'Area (km²)', 'profile.parent': 'Part of',
    'profile.indicators': 'Indicators', 'profile.period': 'Period', 'profile.value': 'Value',
    'profile.unavailable': 'Ward statistics are not available yet',
    'up.title': 'Upload and publish data', 'up.token': 'Editor token',
    'up.tokenHelp': 'Kept for this browser session only (sessionStorage).', 'up.tokenHeading': 'Access',
    'up.layerHeading': 'Layer', 'up.layer': 'Choose an existing layer', 'up.chooseLayer': '— choose a layer —',
    'up.newLayer': 'Or create a new layer', 'up.slug': 'Layer id (slug)', 'up.titleVi': 'Vietnamese title',
    'up.titleEn': 'English title', 'up.category': 'Theme', 'up.geometry': 'Geometry type', 'up.agency': 'Agency', 'up.licence': 'Licence',
    'up.attribution': 'Attribution', 'up.synthetic': 'Synthetic data', 'up.create': 'Create layer',
    'up.created': 'Layer {slug} created', 'up.fileHeading': 'Data file',
    'up.drop': 'Drop a file here, or press to choose one (GeoJSON, zipped Shapefile, GeoPackage, KML, CSV, FlatGeobuf)',
    'up.file': 'File', 'up.crs': 'Coordinate system (when the file has none)', 'up.encoding': 'Character encoding',
    'up.layerName': 'Layer inside the file (GeoPackage)', 'up.publishNow': 'Publish as soon as it is valid',
    'up.upload': 'Upload', 'up.needToken': 'An editor token is needed', 'up.needLayer': 'Choose or create a layer',
    'up.needFile': 'Choose a file', 'up.uploading': 'Sending the file… {pct}%', 'up.queued': 'Waiting in the queue',
    'up.running': 'Processing: {stage}', 'up.succeeded': 'Valid: version {version}, {count} features',
    'up.failed': 'The file could not be imported', 'up.progress': 'Progress', 'up.reportHeading': 'Validation report',
    'up.noProblems': 'No problems found', 'up.problems': '{n} problems', 'up.feature': 'Feature', 'up.row': 'Row',
    'up.column': 'Column', 'up.message': 'Problem', 'up.previewHeading': 'Preview', 'up.publish': 'Publish version {version}',
    'up.published': 'Version {version} published', 'up.versionsHeading': 'Versions',
    'up.version': 'Version', 'up.status': 'Status', 'up.features': 'Features', 'up.date': 'Date', 'up.action': 'Action',
    'up.rollback': 'Roll back to version {version}', 'up.rolledBack': 'Rolled back to version {version}',
    'up.current': 'current', 'up.noVersions': 'No version yet', 'up.unavailable': 'Uploading is not available on this server',
    'up.previewNone': 'Extent of the new version; its data shows once published',
    'up.previewDraft': 'Unpublished version {version}: {shown} of {count} features (visible to editors only)',
  },
};

let current = 'vi';
const listeners = [];

/** The language in use: 'vi' or 'en'. */
export function lang() { return current; }

/** The language to start with: the URL's, else the remembered one, else Vietnamese. */
export function initialLang(fromUrl) {
  if (fromUrl === 'vi' || fromUrl === 'en') return fromUrl;
  try {
    const stored = window.localStorage.getItem(STORAGE_KEY);
    if (stored === 'vi' || stored === 'en') return stored;
  } catch { /* storage disabled: fall through */ }
  return 'vi';
}

/** Translate `key`, filling {placeholders} from `vars`; unknown keys show as themselves. */
export function t(key, vars = {}) {
  const text = DICT[current][key] ?? DICT.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
}

/** A record's title in the current language (title_vi/title_en or name_vi/name_en). */
export function titleOf(record) {
  if (!record) return '';
  const en = record.title_en || record.name_en;
  const vi = record.title_vi || record.name_vi;
  return (current === 'en' ? en || vi : vi || en) || record.slug || record.code || record.id || '';
}

/** Translate every marked element under `root`. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
}

/** Switch language: <html lang>, static texts, storage (an explicit choice), then every listener. */
export function setLang(next, { remember = true } = {}) {
  current = next === 'en' ? 'en' : 'vi';
  document.documentElement.lang = current;
  applyI18n();
  if (remember) {
    try { window.localStorage.setItem(STORAGE_KEY, current); } catch { /* storage disabled */ }
  }
  for (const fn of listeners) fn(current);
}

export function onLangChange(fn) { listeners.push(fn); }
